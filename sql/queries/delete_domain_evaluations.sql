-- Remove a domain's evaluation figures before they are replaced. Binds: $domain.
DELETE FROM evaluations WHERE domain = $domain;
