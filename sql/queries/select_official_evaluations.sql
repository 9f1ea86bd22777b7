-- The official zero-shot metric of every model on every dataset of each domain's current spec
-- version (a figure or domain of unknown version counts as current), and its image-text
-- retrieval R@1 both ways, with each figure's interval and the model's domain and MLflow
-- version (its readable name), for the leaderboard. No binds.
SELECT e.model_id, e.model_kind, e.domain, e.dataset, e.metric, e.value, e.ci_low, e.ci_high,
       e.task, m.domain AS model_domain, m.mlflow_model_uri
FROM evaluations e LEFT JOIN domains d ON d.domain = e.domain
LEFT JOIN models m ON m.model_id = e.model_id
WHERE (e.task = 'zeroshot_classification'
       OR (e.task = 'zeroshot_retrieval' AND e.metric IN ('text_to_image_R@1',
                                                          'image_to_text_R@1')))
  AND (e.spec_digest IS NULL OR d.spec_digest IS NULL OR e.spec_digest = d.spec_digest)
ORDER BY e.domain, e.task, e.dataset, e.metric, e.model_kind;
