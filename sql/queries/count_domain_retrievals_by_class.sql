-- Distinct retrieved pairs per class of a domain (classes without any pair are absent; the
-- general sample, class_index -1, is not a class).
-- Binds: $domain.
SELECT class_index, class_name, count(DISTINCT pair_id) AS n_pairs
FROM retrievals WHERE domain = $domain AND class_index >= 0
GROUP BY class_index, class_name ORDER BY class_index;
