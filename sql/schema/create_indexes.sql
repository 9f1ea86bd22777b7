-- One row per built faiss index (image or text modality of one model's embeddings).
-- Key: (model_id, modality), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS indexes (
    model_id        VARCHAR NOT NULL,
    modality        VARCHAR NOT NULL,
    path            VARCHAR NOT NULL,
    factory         VARCHAR NOT NULL,
    params          JSON NOT NULL,
    recall          DOUBLE NOT NULL,
    recall_target   DOUBLE NOT NULL,
    n_vectors       BIGINT NOT NULL,
    build_seconds   DOUBLE NOT NULL,
    bytes_on_disk   BIGINT,
    memory_bytes    BIGINT,
    created_at      TIMESTAMP NOT NULL
);
