-- The pairs retrieved for each class of a domain (replaced whenever the domain is re-retrieved).
CREATE TABLE IF NOT EXISTS retrievals (
    domain        VARCHAR NOT NULL,
    class_index   INTEGER NOT NULL,
    class_name    VARCHAR NOT NULL,
    pair_id       BIGINT NOT NULL,
    score         REAL NOT NULL,
    rank          INTEGER NOT NULL,
    mode          VARCHAR NOT NULL
);
