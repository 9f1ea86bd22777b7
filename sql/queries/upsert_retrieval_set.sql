-- Record a retrieval set, or mark an existing one (same digest) as its domain's newest, with the
-- stats of this retrieval (the same pairs from a rebuilt index: its measured recall is the one
-- that holds now): retrieval_no counts within the domain (as in the partitioned store, one
-- partition a domain).
-- Binds: $set_digest, $domain, $model_id, $mode, $k_per_query, $settings, $n_queries, $n_pairs,
-- $pairs_digest, $stats.
INSERT INTO retrieval_sets
    (set_digest, domain, model_id, mode, k_per_query, settings, n_queries, n_pairs, pairs_digest,
     stats, retrieval_no, created_at, retrieved_at)
VALUES ($set_digest, $domain, $model_id, $mode, $k_per_query, $settings, $n_queries, $n_pairs,
        $pairs_digest, $stats,
        (SELECT coalesce(max(retrieval_no), 0) + 1 FROM retrieval_sets WHERE domain = $domain),
        current_timestamp, current_timestamp)
ON CONFLICT (set_digest) DO UPDATE SET
    retrieval_no = excluded.retrieval_no, retrieved_at = excluded.retrieved_at,
    stats = excluded.stats;
