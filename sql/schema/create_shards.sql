-- One row per ingested corpus shard (a partition of corpus_shards).
-- Key: (shard_id), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS shards (
    shard_id      VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    tar_sha256    VARCHAR NOT NULL,
    n_members     INTEGER NOT NULL,
    n_pairs       INTEGER NOT NULL,
    n_skipped     INTEGER NOT NULL,
    skipped       JSON NOT NULL,
    ingested_at   TIMESTAMP NOT NULL
);
