-- Every zero-shot and linear-probe figure with its model's config (which holds its training
-- cost), for the per-domain methods leaderboard. No binds.
SELECT e.model_id, e.model_kind, e.domain, e.dataset, e.task, e.metric, e.value, e.details,
       m.config AS model_config
FROM evaluations e LEFT JOIN models m USING (model_id)
WHERE e.task IN ('zeroshot_classification', 'linear_probe')
ORDER BY e.domain, e.dataset, e.model_kind, e.metric;
