-- Record a retrieval set, or mark an existing one (same digest) as its domain's newest, with the
-- stats of this retrieval (the same pairs from a rebuilt index: its measured recall is the one
-- that holds now): retrieval_no counts within the domain.
-- Binds: $set_digest, $domain, $model_id, $mode, $k_per_query, $settings, $n_queries, $n_pairs,
-- $pairs_digest, $stats, $spec_digest (the domain's spec version it was retrieved for).
MERGE INTO retrieval_sets USING (
    SELECT $set_digest AS set_digest, $domain AS domain, $model_id AS model_id, $mode AS mode,
           $k_per_query AS k_per_query, $settings AS settings, $n_queries AS n_queries,
           $n_pairs AS n_pairs, $pairs_digest AS pairs_digest, $stats AS stats,
           (SELECT coalesce(max(retrieval_no), 0) + 1 FROM retrieval_sets WHERE domain = $domain)
               AS retrieval_no,
           current_timestamp AS created_at, current_timestamp AS retrieved_at,
           $spec_digest::VARCHAR AS spec_digest
) s USING (set_digest)
WHEN MATCHED THEN UPDATE SET retrieval_no = s.retrieval_no, retrieved_at = s.retrieved_at,
                             stats = s.stats
WHEN NOT MATCHED THEN INSERT;
