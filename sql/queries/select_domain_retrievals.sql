-- The retrieved pairs of a domain with their captions, best first per class. Binds: $domain.
SELECT r.class_index, r.class_name, r.pair_id, r.score, r.rank, p.caption
FROM retrievals r JOIN pairs p USING (pair_id)
WHERE r.domain = $domain
ORDER BY r.class_index, r.rank;
