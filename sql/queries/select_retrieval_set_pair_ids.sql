-- The distinct pair ids of one retrieval set as of a metadata snapshot, ascending.
-- Binds: $set_digest, $snapshot.
SELECT DISTINCT pair_id FROM retrievals AT (VERSION => $snapshot)
WHERE set_digest = $set_digest ORDER BY pair_id;
