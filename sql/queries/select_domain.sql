-- One registered domain. Binds: $domain.
SELECT domain, spec_path, n_classes, n_templates FROM domains WHERE domain = $domain;
