-- The official zero-shot figure of every model evaluated on a domain's current spec version (a
-- figure or domain of unknown version counts as current), per dataset. Binds: $domain.
SELECT e.model_id, e.model_kind, e.dataset, e.metric, e.value, e.n_samples, e.evaluated_at
FROM evaluations e LEFT JOIN domains d ON d.domain = e.domain
WHERE e.domain = $domain AND e.task = 'zeroshot_classification'
  AND (e.spec_digest IS NULL OR d.spec_digest IS NULL OR e.spec_digest = d.spec_digest)
ORDER BY e.dataset, e.model_kind;
