-- The retrieval set of a domain. Binds: $domain.
SELECT domain, model_id, mode, k_per_query, n_queries, n_pairs, digest, stats
FROM retrieval_sets WHERE domain = $domain;
