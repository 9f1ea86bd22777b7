-- Image-text retrieval recalls of every model. No binds.
SELECT model_id, model_kind, domain, dataset, metric, value FROM evaluations
WHERE task = 'zeroshot_retrieval' ORDER BY domain, dataset, model_kind, metric;
