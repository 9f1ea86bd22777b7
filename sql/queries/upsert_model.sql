-- Record (or replace) a model. Binds: $model_id, $parent_model_id, $kind, $domain, $arch,
-- $pretrained, $checkpoint, $retrieval_digest, $config, $mlflow_run_id, $mlflow_model_uri,
-- $dagster_run_id.
INSERT OR REPLACE INTO models
    (model_id, parent_model_id, kind, domain, arch, pretrained, checkpoint, retrieval_digest,
     config, mlflow_run_id, mlflow_model_uri, dagster_run_id, created_at)
VALUES ($model_id, $parent_model_id, $kind, $domain, $arch, $pretrained, $checkpoint,
        $retrieval_digest, $config, $mlflow_run_id, $mlflow_model_uri, $dagster_run_id,
        current_timestamp);
