-- A model's lineage: its parent, the exact retrieval set it was trained on (by digest), those
-- pairs and the shards they came from. Imported models have no set. Binds: $model_id.
SELECT m.model_id, m.kind, m.domain, m.parent_model_id, m.mlflow_run_id, m.mlflow_model_uri,
       m.checkpoint, m.config, m.retrieval_digest, rs.settings, rs.mode, rs.k_per_query,
       rs.n_pairs, rs.model_id AS retrieved_with,
       list(DISTINCT r.pair_id ORDER BY r.pair_id) FILTER (WHERE r.pair_id IS NOT NULL)
           AS pair_ids,
       list(DISTINCT p.shard_id ORDER BY p.shard_id) FILTER (WHERE p.shard_id IS NOT NULL)
           AS shards
FROM models m
LEFT JOIN retrieval_sets rs ON rs.set_digest = m.retrieval_digest
LEFT JOIN retrievals r ON r.set_digest = m.retrieval_digest
LEFT JOIN pairs p ON p.pair_id = r.pair_id
WHERE m.model_id = $model_id
GROUP BY ALL;
