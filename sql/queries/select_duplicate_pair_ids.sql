-- Pair ids recorded more than once, most repeated first. Binds: $limit.
SELECT pair_id, count(*) AS n_rows, list(DISTINCT shard_id ORDER BY shard_id) AS shards
FROM pairs GROUP BY pair_id HAVING count(*) > 1
ORDER BY n_rows DESC, pair_id
LIMIT $limit;
