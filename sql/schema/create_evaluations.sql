-- Every evaluation figure: one model, one dataset, one metric (replaced on re-evaluation).
-- Key: (model_id, domain, dataset, metric), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS evaluations (
    model_id      VARCHAR NOT NULL,
    model_kind    VARCHAR NOT NULL,
    domain        VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    task          VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    value         DOUBLE NOT NULL,
    n_samples     INTEGER NOT NULL,
    details       JSON,
    evaluated_at  TIMESTAMP NOT NULL
);
