-- One row per retrieval run of a domain: what was asked, with which model, and what came out.
CREATE TABLE IF NOT EXISTS retrieval_sets (
    domain        VARCHAR PRIMARY KEY,
    model_id      VARCHAR NOT NULL,
    mode          VARCHAR NOT NULL,
    k_per_query   INTEGER NOT NULL,
    n_queries     INTEGER NOT NULL,
    n_pairs       INTEGER NOT NULL,
    digest        VARCHAR NOT NULL,
    stats         JSON NOT NULL,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);
