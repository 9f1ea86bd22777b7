-- Record (or replace) a built index. Binds: $model_id, $modality, $path, $factory, $params,
-- $recall, $recall_target, $n_vectors, $build_seconds, $bytes_on_disk, $memory_bytes.
MERGE INTO indexes USING (
    SELECT $model_id AS model_id, $modality AS modality, $path AS path, $factory AS factory,
           $params AS params, $recall AS recall, $recall_target AS recall_target,
           $n_vectors AS n_vectors, $build_seconds AS build_seconds,
           $bytes_on_disk AS bytes_on_disk, $memory_bytes AS memory_bytes,
           current_timestamp AS created_at
) s USING (model_id, modality)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
