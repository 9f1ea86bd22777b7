-- Samples that ingestion rejected, with the reason; replaced on every re-ingestion of the shard.
CREATE TABLE IF NOT EXISTS skipped_samples (
    shard_id      VARCHAR NOT NULL,
    key           VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    detail        VARCHAR NOT NULL
);
