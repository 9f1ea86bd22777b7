-- Retention, step 1 of 2: drop the pairs of a domain's retrieval sets that no model names and
-- that are not among its $keep_latest newest sets. Binds: $domain, $keep_latest.
DELETE FROM retrievals WHERE set_digest IN (SELECT set_digest FROM retrieval_sets s
    WHERE s.domain = $domain
      AND s.set_digest NOT IN (SELECT retrieval_digest FROM models
                               WHERE retrieval_digest IS NOT NULL)
    QUALIFY row_number() OVER (ORDER BY s.retrieval_no DESC) > $keep_latest);
