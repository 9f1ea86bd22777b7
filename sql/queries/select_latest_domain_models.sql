-- The newest model of each kind customized for a domain. Binds: $domain.
SELECT model_id, parent_model_id, kind, checkpoint, config, mlflow_run_id, mlflow_model_uri
FROM models WHERE domain = $domain
QUALIFY row_number() OVER (PARTITION BY kind ORDER BY created_at DESC) = 1
ORDER BY kind;
