-- Registered target domains: the spec file each came from and its parsed content.
CREATE TABLE IF NOT EXISTS domains (
    domain         VARCHAR PRIMARY KEY,
    spec_path      VARCHAR NOT NULL,
    n_classes      INTEGER NOT NULL,
    n_templates    INTEGER NOT NULL,
    classes        JSON NOT NULL,
    registered_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
