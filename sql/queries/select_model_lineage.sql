-- A model's lineage: its parent, the domain spec version it was made for (its digest and that
-- version's spec, NULL for models made before versions were kept), the exact retrieval set it
-- was trained on (by digest), those pairs and the shards they came from, all read as of
-- $snapshot (the metadata snapshot the model was trained at), so retention or re-ingestion since
-- then does not change the answer. Imported models have no set. Binds: $model_id, $snapshot.
WITH rs AS (FROM retrieval_sets AT (VERSION => $snapshot)),
     r AS (FROM retrievals AT (VERSION => $snapshot)),
     p AS (FROM pairs AT (VERSION => $snapshot)),
     v AS (SELECT spec_digest, any_value(spec) AS spec FROM domain_versions GROUP BY spec_digest)
SELECT m.model_id, m.kind, m.domain, m.parent_model_id, m.mlflow_run_id, m.mlflow_model_uri,
       m.checkpoint, m.config, m.retrieval_digest, m.metadata_snapshot, m.spec_digest,
       v.spec AS spec_version, rs.settings, rs.mode, rs.k_per_query, rs.n_pairs,
       rs.model_id AS retrieved_with,
       list(DISTINCT r.pair_id ORDER BY r.pair_id) FILTER (WHERE r.pair_id IS NOT NULL)
           AS pair_ids,
       list(DISTINCT p.shard_id ORDER BY p.shard_id) FILTER (WHERE p.shard_id IS NOT NULL)
           AS shards
FROM models m
LEFT JOIN v ON v.spec_digest = m.spec_digest
LEFT JOIN rs ON rs.set_digest = m.retrieval_digest
LEFT JOIN r ON r.set_digest = m.retrieval_digest
LEFT JOIN p ON p.pair_id = r.pair_id
WHERE m.model_id = $model_id
GROUP BY ALL;
