-- One registered domain with its current spec version (spec, version_no and version_registered_at
-- are NULL for a domain registered before versions were kept). Binds: $domain.
SELECT d.domain, d.spec_path, d.n_classes, d.n_templates, d.classes, d.spec_digest, v.spec,
       v.version_no, v.registered_at AS version_registered_at
FROM domains d
LEFT JOIN domain_versions v ON v.domain = d.domain AND v.spec_digest = d.spec_digest
WHERE d.domain = $domain
ORDER BY v.version_no DESC NULLS LAST
LIMIT 1;
