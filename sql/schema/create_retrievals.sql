-- The pairs retrieved for each class of a domain, per retrieval set (immutable: a re-retrieval
-- adds a set; rows leave only with their set, see delete_unused_retrievals.sql).
CREATE TABLE IF NOT EXISTS retrievals (
    set_digest    VARCHAR NOT NULL,
    domain        VARCHAR NOT NULL,
    class_index   INTEGER NOT NULL,
    class_name    VARCHAR NOT NULL,
    pair_id       BIGINT NOT NULL,
    score         REAL NOT NULL,
    rank          INTEGER NOT NULL,
    mode          VARCHAR NOT NULL
);
