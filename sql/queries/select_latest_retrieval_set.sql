-- The newest retrieval set of a domain as of a metadata snapshot (none when it had never been
-- retrieved by then). Binds: $domain, $snapshot.
SELECT set_digest, domain, model_id, mode, k_per_query, settings, n_queries, n_pairs,
       pairs_digest, stats, retrieval_no, created_at, retrieved_at, spec_digest
FROM retrieval_sets AT (VERSION => $snapshot) WHERE domain = $domain
ORDER BY retrieval_no DESC LIMIT 1;
