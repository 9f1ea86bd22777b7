-- Every evaluation figure: one model, one dataset, one metric, under one version of the domain's
-- spec (replaced on re-evaluation under that version; another version's figures stay), with its
-- bootstrap interval over the test samples where it has one (zero-shot and retrieval figures).
-- Key: (model_id, domain, spec_digest, dataset, metric), spec_digest compared NULL-safe, kept by
-- the statements that write it (DuckLake has no PRIMARY KEY constraint).
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
    evaluated_at  TIMESTAMP NOT NULL,
    spec_digest   VARCHAR,   -- the domain's spec version evaluated (its classes and templates)
    ci_low        DOUBLE,    -- the interval's bounds (fractions; level: the domain's policy,
    ci_high       DOUBLE     -- 95% by default); NULL for linear-probe figures (seed spreads)
);
