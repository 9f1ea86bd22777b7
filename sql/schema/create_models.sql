-- Every model the pipeline made or registered: the base and each customization, with lineage.
-- Key: (model_id), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS models (
    model_id          VARCHAR NOT NULL,
    parent_model_id   VARCHAR,
    kind              VARCHAR NOT NULL,
    domain            VARCHAR,
    arch              VARCHAR NOT NULL,
    pretrained        VARCHAR,
    checkpoint        VARCHAR,
    retrieval_digest  VARCHAR,
    metadata_snapshot BIGINT,     -- the metadata snapshot it was trained at (lineage as of then)
    config            JSON NOT NULL,
    mlflow_run_id     VARCHAR,
    mlflow_model_uri  VARCHAR,
    dagster_run_id    VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    spec_digest       VARCHAR       -- the domain's spec version it was made for (domain_versions)
);
