-- Registered target domains: the spec file each came from and its parsed content.
-- Key: (domain), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS domains (
    domain         VARCHAR NOT NULL,
    spec_path      VARCHAR NOT NULL,
    n_classes      INTEGER NOT NULL,
    n_templates    INTEGER NOT NULL,
    classes        JSON NOT NULL,
    registered_at  TIMESTAMP NOT NULL
);
