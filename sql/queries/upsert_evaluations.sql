-- Record (or replace) evaluation figures from the registered Arrow table `batch`, one row per
-- (model, domain, dataset, metric); other models' figures stay (no bound values).
MERGE INTO evaluations USING (
    SELECT model_id, model_kind, domain, dataset, task, metric, value, n_samples, details,
           current_timestamp AS evaluated_at
    FROM batch
) s USING (model_id, domain, dataset, metric)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
