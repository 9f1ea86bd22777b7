-- Image hashes of a domain's retrieved pairs; image_sha256 is NULL when the pair is no longer in
-- pairs. Binds: $domain.
SELECT DISTINCT r.pair_id, r.class_name, p.shard_id, p.key, p.image_sha256
FROM retrievals r LEFT JOIN pairs p USING (pair_id)
WHERE r.domain = $domain
ORDER BY r.pair_id;
