-- Every change of a domain's MLflow aliases, oldest first (rows are only added): a new version
-- decided by the domain's promotion policy (action 'promoted': it became @champion;
-- 'challenger': it did not, the reasons say why) or a rollback of @champion to an earlier
-- version (action 'rollback'). champion_version is @champion after the change (NULL: none).
CREATE TABLE IF NOT EXISTS promotions (
    domain                     VARCHAR NOT NULL,
    registered_model           VARCHAR NOT NULL,   -- react-<domain>
    version                    INTEGER NOT NULL,   -- the version decided on, or rolled back to
    model_id                   VARCHAR,
    action                     VARCHAR NOT NULL,
    champion_version           INTEGER,
    previous_champion_version  INTEGER,
    reasons                    JSON NOT NULL,      -- a list of sentences
    figures                    JSON,               -- the checked rules and their figures
    policy                     JSON,
    spec_digest                VARCHAR,
    dagster_run_id             VARCHAR,
    decided_at                 TIMESTAMP NOT NULL
);
