-- Shard ids that pairs point to but that are not registered in shards, with their pair counts.
-- No binds.
SELECT p.shard_id, count(*) AS n_pairs
FROM pairs p LEFT JOIN shards s USING (shard_id)
WHERE s.shard_id IS NULL
GROUP BY p.shard_id ORDER BY p.shard_id;
