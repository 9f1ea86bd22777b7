-- The pairs of a domain's newest retrieval set with their captions, best first per class.
-- Binds: $domain.
SELECT r.set_digest, r.class_index, r.class_name, r.pair_id, r.score, r.rank, p.caption
FROM retrievals r JOIN pairs p USING (pair_id)
WHERE r.set_digest = (SELECT set_digest FROM retrieval_sets WHERE domain = $domain
                      ORDER BY retrieval_no DESC LIMIT 1)
ORDER BY r.class_index, r.rank;
