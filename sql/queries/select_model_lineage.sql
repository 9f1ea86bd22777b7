-- A model's lineage: its parent, the exact retrieval set it was trained on (by digest), those
-- pairs and the shards they came from, all read as of $snapshot (the metadata snapshot the model
-- was trained at), so retention or re-ingestion since then does not change the answer. Imported
-- models have no set. Binds: $model_id, $snapshot.
WITH rs AS (FROM retrieval_sets AT (VERSION => $snapshot)),
     r AS (FROM retrievals AT (VERSION => $snapshot)),
     p AS (FROM pairs AT (VERSION => $snapshot))
SELECT m.model_id, m.kind, m.domain, m.parent_model_id, m.mlflow_run_id, m.mlflow_model_uri,
       m.checkpoint, m.config, m.retrieval_digest, m.metadata_snapshot, rs.settings, rs.mode,
       rs.k_per_query, rs.n_pairs, rs.model_id AS retrieved_with,
       list(DISTINCT r.pair_id ORDER BY r.pair_id) FILTER (WHERE r.pair_id IS NOT NULL)
           AS pair_ids,
       list(DISTINCT p.shard_id ORDER BY p.shard_id) FILTER (WHERE p.shard_id IS NOT NULL)
           AS shards
FROM models m
LEFT JOIN rs ON rs.set_digest = m.retrieval_digest
LEFT JOIN r ON r.set_digest = m.retrieval_digest
LEFT JOIN p ON p.pair_id = r.pair_id
WHERE m.model_id = $model_id
GROUP BY ALL;
