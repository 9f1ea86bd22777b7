-- The promotion policy's decision on one registered model version, if it was decided (rollbacks
-- are not decisions). Binds: $registered_model, $version.
SELECT action, champion_version, reasons, decided_at
FROM promotions
WHERE registered_model = $registered_model AND version = $version
  AND action IN ('promoted', 'challenger')
ORDER BY decided_at DESC
LIMIT 1;
