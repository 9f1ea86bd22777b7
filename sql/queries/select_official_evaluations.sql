-- The official zero-shot metric of every model on every dataset of each domain's current spec
-- version (a figure or domain of unknown version counts as current), for the leaderboard.
-- No binds.
SELECT e.model_id, e.model_kind, e.domain, e.dataset, e.metric, e.value
FROM evaluations e LEFT JOIN domains d ON d.domain = e.domain
WHERE e.task = 'zeroshot_classification'
  AND (e.spec_digest IS NULL OR d.spec_digest IS NULL OR e.spec_digest = d.spec_digest)
ORDER BY e.domain, e.dataset, e.model_kind;
