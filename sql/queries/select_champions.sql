-- Each domain's @champion as the newest alias change left it, with the champion's model id (NULL
-- when no version is champion). No binds.
SELECT p.domain, p.registered_model, p.champion_version, m.model_id
FROM promotions p
LEFT JOIN models m
  ON m.mlflow_model_uri = 'models:/' || p.registered_model || '/' || p.champion_version
QUALIFY row_number() OVER (PARTITION BY p.domain ORDER BY p.decided_at DESC) = 1
ORDER BY p.domain;
