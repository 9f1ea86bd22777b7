-- From an evaluated model back to its parent, its retrieval set and the shards behind it.
-- Binds: $model_id.
SELECT m.model_id, m.kind, m.parent_model_id, m.mlflow_run_id, m.mlflow_model_uri,
       rs.domain, rs.digest AS retrieval_digest, rs.n_pairs,
       list(DISTINCT p.shard_id ORDER BY p.shard_id) AS shards
FROM models m
LEFT JOIN retrieval_sets rs ON rs.domain = m.domain AND rs.digest = m.retrieval_digest
LEFT JOIN retrievals r ON r.domain = m.domain
LEFT JOIN pairs p ON p.pair_id = r.pair_id
WHERE m.model_id = $model_id
GROUP BY ALL;
