-- Number of pairs per source across the corpus. No binds.
SELECT source, count(*) AS n_pairs FROM pairs GROUP BY source ORDER BY source;
