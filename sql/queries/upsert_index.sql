-- Record (or replace) a built index. Binds: $model_id, $modality, $path, $factory, $params,
-- $recall, $recall_target, $n_vectors, $build_seconds, $bytes_on_disk, $memory_bytes.
INSERT OR REPLACE INTO indexes
    (model_id, modality, path, factory, params, recall, recall_target, n_vectors, build_seconds,
     bytes_on_disk, memory_bytes, created_at)
VALUES ($model_id, $modality, $path, $factory, $params, $recall, $recall_target, $n_vectors,
        $build_seconds, $bytes_on_disk, $memory_bytes, current_timestamp);
