-- Migration, step 4: old retrieval rows point at their domain's migrated set (no values).
UPDATE retrievals SET set_digest = v1.digest FROM retrieval_sets_v1 v1
WHERE retrievals.domain = v1.domain AND retrievals.set_digest IS NULL;
