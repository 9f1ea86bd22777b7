-- The model registered in MLflow as one version (``models:/<name>/<version>``). Binds: $uri.
SELECT model_id, kind, domain, checkpoint, mlflow_run_id, mlflow_model_uri, spec_digest
FROM models
WHERE mlflow_model_uri = $uri
ORDER BY created_at DESC
LIMIT 1;
