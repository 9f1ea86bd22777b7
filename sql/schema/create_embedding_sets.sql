-- One row per embedded shard and model: where the float16 arrays are and how fast they were made.
-- Key: (shard_id, model_id), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS embedding_sets (
    shard_id          VARCHAR NOT NULL,
    model_id          VARCHAR NOT NULL,
    folder            VARCHAR NOT NULL,
    n_rows            INTEGER NOT NULL,
    dim               INTEGER NOT NULL,
    pairs_per_second  DOUBLE NOT NULL,
    created_at        TIMESTAMP NOT NULL
);
