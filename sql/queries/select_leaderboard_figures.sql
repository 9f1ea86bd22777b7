-- Every zero-shot and linear-probe figure of each domain's current spec version (a figure or
-- domain of unknown version counts as current) with its model's config (which holds its training
-- cost) and the figure's interval, for the per-domain methods leaderboard. No binds.
SELECT e.model_id, e.model_kind, e.domain, e.dataset, e.task, e.metric, e.value, e.details,
       e.ci_low, e.ci_high, m.config AS model_config
FROM evaluations e LEFT JOIN models m USING (model_id)
LEFT JOIN domains d ON d.domain = e.domain
WHERE e.task IN ('zeroshot_classification', 'linear_probe')
  AND (e.spec_digest IS NULL OR d.spec_digest IS NULL OR e.spec_digest = d.spec_digest)
ORDER BY e.domain, e.dataset, e.model_kind, e.metric;
