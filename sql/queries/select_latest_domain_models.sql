-- The newest model of each kind customized for a domain's current spec version (models of its
-- earlier versions are left out; a model or domain of unknown version counts as current).
-- Binds: $domain.
SELECT m.model_id, m.parent_model_id, m.kind, m.checkpoint, m.config, m.mlflow_run_id,
       m.mlflow_model_uri, m.spec_digest
FROM models m LEFT JOIN domains d ON d.domain = m.domain
WHERE m.domain = $domain
  AND (m.spec_digest IS NULL OR d.spec_digest IS NULL OR m.spec_digest = d.spec_digest)
QUALIFY row_number() OVER (PARTITION BY m.kind ORDER BY m.created_at DESC) = 1
ORDER BY m.kind;
