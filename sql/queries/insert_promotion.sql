-- Record a change of a domain's aliases. Binds: $domain, $registered_model, $version,
-- $model_id, $action, $champion_version, $previous_champion_version, $reasons, $figures,
-- $policy, $spec_digest, $dagster_run_id.
INSERT INTO promotions
SELECT $domain, $registered_model, $version::INTEGER, $model_id, $action,
       $champion_version::INTEGER, $previous_champion_version::INTEGER, $reasons, $figures,
       $policy, $spec_digest::VARCHAR, $dagster_run_id::VARCHAR, current_timestamp;
