-- Pairs of the general pre-training split (meta.general = true), in corpus order. Binds: $limit.
SELECT pair_id FROM pairs
WHERE coalesce(json_extract(meta, '$.general')::BOOLEAN, false)
ORDER BY shard_id, ordinal
LIMIT $limit;
