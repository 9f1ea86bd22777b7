-- Remove a domain's retrieved pairs before they are replaced. Binds: $domain.
DELETE FROM retrievals WHERE domain = $domain;
