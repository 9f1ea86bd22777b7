-- One row per ingested corpus shard (a partition of corpus_shards).
CREATE TABLE IF NOT EXISTS shards (
    shard_id      VARCHAR PRIMARY KEY,
    path          VARCHAR NOT NULL,
    tar_sha256    VARCHAR NOT NULL,
    n_members     INTEGER NOT NULL,
    n_pairs       INTEGER NOT NULL,
    n_skipped     INTEGER NOT NULL,
    skipped       JSON NOT NULL,
    ingested_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);
