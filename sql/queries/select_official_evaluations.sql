-- The official zero-shot metric of every model on every dataset, for the leaderboard. No binds.
SELECT model_id, model_kind, domain, dataset, metric, value FROM evaluations
WHERE task = 'zeroshot_classification'
ORDER BY domain, dataset, model_kind;
