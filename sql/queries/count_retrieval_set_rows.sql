-- How many retrieval rows a set already has (0: its pairs are still to insert).
-- Binds: $set_digest.
SELECT count(*) AS n_rows FROM retrievals WHERE set_digest = $set_digest;
