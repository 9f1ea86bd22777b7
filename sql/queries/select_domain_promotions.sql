-- A domain's alias changes, newest first. Binds: $domain.
SELECT domain, registered_model, version, model_id, action, champion_version,
       previous_champion_version, reasons, figures, policy, spec_digest, dagster_run_id,
       decided_at
FROM promotions
WHERE domain = $domain
ORDER BY decided_at DESC;
