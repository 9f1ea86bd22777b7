-- The embedding set of one shard for one model. Binds: $shard_id, $model_id.
SELECT shard_id, model_id, folder, n_rows, dim, created_at FROM embedding_sets
WHERE shard_id = $shard_id AND model_id = $model_id;
