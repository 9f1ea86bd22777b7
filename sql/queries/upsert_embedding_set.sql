-- Record (or replace) an embedded shard. Binds: $shard_id, $model_id, $folder, $n_rows, $dim,
-- $pairs_per_second.
INSERT OR REPLACE INTO embedding_sets
    (shard_id, model_id, folder, n_rows, dim, pairs_per_second, created_at)
VALUES ($shard_id, $model_id, $folder, $n_rows, $dim, $pairs_per_second, current_timestamp);
