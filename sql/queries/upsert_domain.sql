-- Register (or update) a domain, naming its current spec version. Binds: $domain, $spec_path,
-- $n_classes, $n_templates, $classes, $spec_digest.
MERGE INTO domains USING (
    SELECT $domain AS domain, $spec_path AS spec_path, $n_classes AS n_classes,
           $n_templates AS n_templates, $classes AS classes, current_timestamp AS registered_at,
           $spec_digest AS spec_digest
) s USING (domain)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
