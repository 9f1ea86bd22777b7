-- The pairs with the given ids, with where their image lives. Binds: $pair_ids (BIGINT[]).
SELECT p.pair_id, p.shard_id, s.path AS tar_path, p.image_member, p.caption, p.image_sha256
FROM pairs p JOIN shards s USING (shard_id)
WHERE p.pair_id IN (SELECT unnest($pair_ids::BIGINT[]))
ORDER BY p.shard_id, p.ordinal;
