-- Every version a domain has had: one row each time a registration made a spec the domain's
-- current one (an append-only log; a spec made current again is a new row with the same digest).
-- spec_digest is the sha256 of spec (react_assets.domains.versions.spec_content); the domains row
-- names the current version's digest. Key: (domain, version_no), kept by the statements that
-- write it (DuckLake has no PRIMARY KEY constraint).
CREATE TABLE IF NOT EXISTS domain_versions (
    domain         VARCHAR NOT NULL,
    version_no     BIGINT NOT NULL,
    spec_digest    VARCHAR NOT NULL,
    spec           JSON NOT NULL,
    spec_path      VARCHAR NOT NULL,
    replaced       BOOLEAN NOT NULL,  -- registered with `replace: true` over other classes/templates
    registered_at  TIMESTAMP NOT NULL
);
