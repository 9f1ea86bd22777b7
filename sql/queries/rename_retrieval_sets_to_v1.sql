-- Migration of a home of the domain-keyed layout, step 1: set the old table aside (no values).
ALTER TABLE retrieval_sets RENAME TO retrieval_sets_v1;
