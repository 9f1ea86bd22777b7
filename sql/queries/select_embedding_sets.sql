-- The embedded shards of one model, in shard order. Binds: $model_id.
SELECT shard_id, folder, n_rows, dim FROM embedding_sets
WHERE model_id = $model_id ORDER BY shard_id;
