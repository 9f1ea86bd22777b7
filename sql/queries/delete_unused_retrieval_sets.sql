-- Retention, step 2 of 2: drop those sets themselves (same rule as delete_unused_retrievals).
-- Binds: $domain, $keep_latest.
DELETE FROM retrieval_sets WHERE set_digest IN (SELECT set_digest FROM retrieval_sets s
    WHERE s.domain = $domain
      AND s.set_digest NOT IN (SELECT retrieval_digest FROM models
                               WHERE retrieval_digest IS NOT NULL)
    QUALIFY row_number() OVER (ORDER BY s.retrieval_no DESC) > $keep_latest);
