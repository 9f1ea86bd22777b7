-- Record (or replace) an embedded shard. Binds: $shard_id, $model_id, $folder, $n_rows, $dim,
-- $pairs_per_second.
MERGE INTO embedding_sets USING (
    SELECT $shard_id AS shard_id, $model_id AS model_id, $folder AS folder, $n_rows AS n_rows,
           $dim AS dim, $pairs_per_second AS pairs_per_second, current_timestamp AS created_at
) s USING (shard_id, model_id)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
