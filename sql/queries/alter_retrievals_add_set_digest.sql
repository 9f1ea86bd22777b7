-- Migration, step 2: the retrievals table of the old layout gains its set's digest (no values).
ALTER TABLE retrievals ADD COLUMN set_digest VARCHAR;
