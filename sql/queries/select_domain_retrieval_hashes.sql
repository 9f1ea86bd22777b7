-- Image hashes of the pairs of a domain's newest retrieval set; image_sha256 is NULL when the
-- pair is no longer in pairs. Binds: $domain.
SELECT DISTINCT r.pair_id, r.class_name, p.shard_id, p.key, p.image_sha256
FROM retrievals r LEFT JOIN pairs p USING (pair_id)
WHERE r.set_digest = (SELECT set_digest FROM retrieval_sets WHERE domain = $domain
                      ORDER BY retrieval_no DESC LIMIT 1)
ORDER BY r.pair_id;
