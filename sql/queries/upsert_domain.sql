-- Register (or update) a domain. Binds: $domain, $spec_path, $n_classes, $n_templates, $classes.
INSERT OR REPLACE INTO domains (domain, spec_path, n_classes, n_templates, classes, registered_at)
VALUES ($domain, $spec_path, $n_classes, $n_templates, $classes, current_timestamp);
