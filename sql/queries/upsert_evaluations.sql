-- Record (or replace) evaluation figures from the registered Arrow table `batch`, one row per
-- (model, domain, spec version, dataset, metric), with their intervals (ci_low, ci_high: NULL
-- where a figure has none); other models' figures, and those of the domain's other spec
-- versions, stay (no bound values).
MERGE INTO evaluations USING (
    SELECT model_id, model_kind, domain, dataset, task, metric, value, n_samples, details,
           current_timestamp AS evaluated_at, spec_digest::VARCHAR AS spec_digest,
           ci_low::DOUBLE AS ci_low, ci_high::DOUBLE AS ci_high
    FROM batch
) s ON (evaluations.model_id = s.model_id AND evaluations.domain = s.domain
        AND evaluations.spec_digest IS NOT DISTINCT FROM s.spec_digest
        AND evaluations.dataset = s.dataset AND evaluations.metric = s.metric)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
