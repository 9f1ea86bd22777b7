-- Record (or replace) a model. Binds: $model_id, $parent_model_id, $kind, $domain, $arch,
-- $pretrained, $checkpoint, $retrieval_digest, $metadata_snapshot, $config, $mlflow_run_id,
-- $mlflow_model_uri, $dagster_run_id, $spec_digest (the domain's spec version it was made for).
MERGE INTO models USING (
    SELECT $model_id AS model_id, $parent_model_id AS parent_model_id, $kind AS kind,
           $domain AS domain, $arch AS arch, $pretrained AS pretrained, $checkpoint AS checkpoint,
           $retrieval_digest AS retrieval_digest, $metadata_snapshot::BIGINT AS metadata_snapshot,
           $config AS config, $mlflow_run_id AS mlflow_run_id,
           $mlflow_model_uri AS mlflow_model_uri, $dagster_run_id AS dagster_run_id,
           current_timestamp AS created_at, $spec_digest::VARCHAR AS spec_digest
) s USING (model_id)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
