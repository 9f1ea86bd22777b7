-- Migration, step 5: the old table, now copied, goes (no values).
DROP TABLE retrieval_sets_v1;
