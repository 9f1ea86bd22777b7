-- Every retrieval set of a domain, newest first, with how many models name it and the spec
-- version it was retrieved for. Binds: $domain.
SELECT s.set_digest, s.model_id, s.mode, s.k_per_query, s.settings, s.n_pairs, s.pairs_digest,
       s.retrieval_no, s.retrieved_at, s.spec_digest,
       (SELECT count(*) FROM models m WHERE m.retrieval_digest = s.set_digest) AS n_models
FROM retrieval_sets s WHERE s.domain = $domain
ORDER BY s.retrieval_no DESC;
