-- Distinct retrieved pairs per class of a domain (classes without any pair are absent).
-- Binds: $domain.
SELECT class_index, class_name, count(DISTINCT pair_id) AS n_pairs
FROM retrievals WHERE domain = $domain
GROUP BY class_index, class_name ORDER BY class_index;
