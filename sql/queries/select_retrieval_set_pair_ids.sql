-- The distinct pair ids of one retrieval set, ascending. Binds: $set_digest.
SELECT DISTINCT pair_id FROM retrievals WHERE set_digest = $set_digest ORDER BY pair_id;
