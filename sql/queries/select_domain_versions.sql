-- Every version of a domain, newest first, and whether it is the current one. Binds: $domain.
SELECT v.version_no, v.spec_digest, v.spec, v.spec_path, v.replaced, v.registered_at,
       v.version_no = max(v.version_no) OVER () AND v.spec_digest IS NOT DISTINCT FROM
           (SELECT spec_digest FROM domains WHERE domain = $domain) AS current
FROM domain_versions v WHERE v.domain = $domain
ORDER BY v.version_no DESC;
