-- Register (or update) a domain. Binds: $domain, $spec_path, $n_classes, $n_templates, $classes.
MERGE INTO domains USING (
    SELECT $domain AS domain, $spec_path AS spec_path, $n_classes AS n_classes,
           $n_templates AS n_templates, $classes AS classes, current_timestamp AS registered_at
) s USING (domain)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
