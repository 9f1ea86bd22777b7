-- Every model the pipeline made or registered: the base and each customization, with lineage.
CREATE TABLE IF NOT EXISTS models (
    model_id          VARCHAR PRIMARY KEY,
    parent_model_id   VARCHAR,
    kind              VARCHAR NOT NULL,
    domain            VARCHAR,
    arch              VARCHAR NOT NULL,
    pretrained        VARCHAR,
    checkpoint        VARCHAR,
    retrieval_digest  VARCHAR,
    config            JSON NOT NULL,
    mlflow_run_id     VARCHAR,
    mlflow_model_uri  VARCHAR,
    dagster_run_id    VARCHAR,
    created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp
);
