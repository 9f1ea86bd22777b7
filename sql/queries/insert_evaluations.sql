-- Insert evaluation figures from the registered Arrow table `batch` (no bound values).
INSERT OR REPLACE INTO evaluations
SELECT model_id, model_kind, domain, dataset, task, metric, value, n_samples, details,
       current_timestamp
FROM batch;
