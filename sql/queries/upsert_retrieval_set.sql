-- Record (or replace) the retrieval set of a domain. Binds: $domain, $model_id, $mode,
-- $k_per_query, $n_queries, $n_pairs, $digest, $stats.
INSERT OR REPLACE INTO retrieval_sets
    (domain, model_id, mode, k_per_query, n_queries, n_pairs, digest, stats, created_at)
VALUES ($domain, $model_id, $mode, $k_per_query, $n_queries, $n_pairs, $digest, $stats,
        current_timestamp);
