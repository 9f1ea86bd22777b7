-- Migration, step 3 (after the schema): each domain's old set becomes one set whose digest is
-- its old pair digest, the one its models recorded (no values).
INSERT INTO retrieval_sets
    (set_digest, domain, model_id, mode, k_per_query, settings, n_queries, n_pairs, pairs_digest,
     stats, retrieval_no, created_at, retrieved_at)
SELECT digest, domain, model_id, mode, k_per_query, '{}', n_queries, n_pairs, digest, stats,
       row_number() OVER (ORDER BY created_at), created_at, created_at
FROM retrieval_sets_v1;
