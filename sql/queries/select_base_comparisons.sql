-- Every model's paired difference from a base model, on each domain's current spec version (a
-- figure or domain of unknown version counts as current), for the leaderboard. Binds: $base.
SELECT c.model_id, c.domain, c.dataset, c.metric, c.difference, c.ci_low, c.ci_high,
       c.p_value, c.level
FROM comparisons c LEFT JOIN domains d ON d.domain = c.domain
WHERE c.reference_id = $base AND c.role = 'base'
  AND (c.spec_digest IS NULL OR d.spec_digest IS NULL OR c.spec_digest = d.spec_digest)
ORDER BY c.domain, c.dataset, c.metric, c.model_id;
