-- One row per distinct retrieval set of a domain, keyed by its digest (sha256 of the domain, its
-- spec version, the retrieval settings, the base model and the pair ids). Re-retrieving adds a
-- set (or, for the same digest, marks it the newest again: retrieval_no); a set is never replaced.
-- Key: (set_digest), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS retrieval_sets (
    set_digest    VARCHAR NOT NULL,
    domain        VARCHAR NOT NULL,
    model_id      VARCHAR NOT NULL,
    mode          VARCHAR NOT NULL,
    k_per_query   INTEGER NOT NULL,
    settings      JSON NOT NULL,
    n_queries     INTEGER NOT NULL,
    n_pairs       INTEGER NOT NULL,
    pairs_digest  VARCHAR NOT NULL,
    stats         JSON NOT NULL,
    retrieval_no  BIGINT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    retrieved_at  TIMESTAMP NOT NULL,
    spec_digest   VARCHAR    -- the domain's spec version it was retrieved for (domain_versions)
);
