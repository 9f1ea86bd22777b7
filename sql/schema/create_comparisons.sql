-- Paired comparisons of an evaluation: a model minus a reference model (the base, or the domain's
-- champion: role) on the same test samples, with the difference's bootstrap interval and
-- two-sided p-value (fractions), under one version of the domain's spec.
-- Key: (model_id, reference_id, domain, spec_digest, dataset, metric), spec_digest compared
-- NULL-safe, kept by the statements that write it (DuckLake has no PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS comparisons (
    model_id      VARCHAR NOT NULL,
    reference_id  VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,   -- 'base' or 'champion'
    domain        VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    difference    DOUBLE NOT NULL,
    ci_low        DOUBLE NOT NULL,
    ci_high       DOUBLE NOT NULL,
    p_value       DOUBLE NOT NULL,
    n_samples     INTEGER NOT NULL,
    level         DOUBLE NOT NULL,    -- the interval's two-sided level
    n_resamples   INTEGER NOT NULL,
    seed          BIGINT NOT NULL,    -- with the dataset and metric, fixes the resamples
    spec_digest   VARCHAR,
    compared_at   TIMESTAMP NOT NULL
);
