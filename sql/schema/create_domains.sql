-- Registered target domains: the spec file each came from, its parsed content and the digest of
-- its current version (domain_versions; NULL for a domain registered before versions were kept).
-- Key: (domain), kept by the statements that write it (DuckLake has no
-- PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS domains (
    domain         VARCHAR NOT NULL,
    spec_path      VARCHAR NOT NULL,
    n_classes      INTEGER NOT NULL,
    n_templates    INTEGER NOT NULL,
    classes        JSON NOT NULL,
    registered_at  TIMESTAMP NOT NULL,
    spec_digest    VARCHAR
);
