-- Log a spec made the domain's current version, numbered after the domain's previous versions.
-- Binds: $domain, $spec_digest, $spec, $spec_path, $replaced.
INSERT INTO domain_versions (domain, version_no, spec_digest, spec, spec_path, replaced,
                             registered_at)
SELECT $domain, (SELECT coalesce(max(version_no), 0) + 1 FROM domain_versions
                 WHERE domain = $domain),
       $spec_digest, $spec, $spec_path, $replaced, current_timestamp;
