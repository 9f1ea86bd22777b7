-- The official zero-shot figure of every model evaluated on a domain, per dataset.
-- Binds: $domain.
SELECT model_id, model_kind, dataset, metric, value, n_samples, evaluated_at FROM evaluations
WHERE domain = $domain AND task = 'zeroshot_classification'
ORDER BY dataset, model_kind;
