-- Image-text pairs; pair_id is stable (derived from shard id and key), ordinal = row in the shard.
-- Key: (pair_id), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS pairs (
    pair_id       BIGINT NOT NULL,
    shard_id      VARCHAR NOT NULL,
    ordinal       INTEGER NOT NULL,
    key           VARCHAR NOT NULL,
    image_member  VARCHAR NOT NULL,
    caption       VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    image_bytes   INTEGER NOT NULL,
    image_sha256  VARCHAR NOT NULL,
    url           VARCHAR,
    meta          JSON
);
