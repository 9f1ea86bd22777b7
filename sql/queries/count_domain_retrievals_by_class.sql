-- Distinct retrieved pairs per class of a domain's newest retrieval set (classes without any pair
-- are absent; the general sample, class_index -1, is not a class).
-- Binds: $domain.
SELECT class_index, class_name, count(DISTINCT pair_id) AS n_pairs
FROM retrievals WHERE class_index >= 0 AND set_digest = (SELECT set_digest FROM retrieval_sets WHERE domain = $domain
                      ORDER BY retrieval_no DESC LIMIT 1)
GROUP BY class_index, class_name ORDER BY class_index;
