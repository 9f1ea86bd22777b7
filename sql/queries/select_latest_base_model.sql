-- The most recently registered base model. No binds.
SELECT model_id, arch, pretrained, config, mlflow_run_id, mlflow_model_uri
FROM models WHERE kind = 'base' ORDER BY created_at DESC LIMIT 1;
