-- Record (or replace) paired comparisons from the registered Arrow table `batch`, one row per
-- (model, reference, domain, spec version, dataset, metric); others stay (no bound values).
MERGE INTO comparisons USING (
    SELECT model_id, reference_id, role, domain, dataset, metric, difference, ci_low, ci_high,
           p_value, n_samples::INTEGER AS n_samples, level, n_resamples::INTEGER AS n_resamples,
           seed::BIGINT AS seed, spec_digest::VARCHAR AS spec_digest,
           current_timestamp AS compared_at
    FROM batch
) s ON (comparisons.model_id = s.model_id AND comparisons.reference_id = s.reference_id
        AND comparisons.domain = s.domain
        AND comparisons.spec_digest IS NOT DISTINCT FROM s.spec_digest
        AND comparisons.dataset = s.dataset AND comparisons.metric = s.metric)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
