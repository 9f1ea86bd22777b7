-- Corpus captions that name each candidate of the registered Arrow table `synonyms`
-- (class_index, name): whole words, case- and punctuation-insensitive. No bound values.
WITH words AS (
    SELECT ' ' || trim(regexp_replace(lower(caption), '[^a-z0-9]+', ' ', 'g')) || ' ' AS text
    FROM pairs
), candidates AS (
    SELECT class_index, name,
           ' ' || trim(regexp_replace(lower(name), '[^a-z0-9]+', ' ', 'g')) || ' ' AS needle
    FROM synonyms
)
SELECT c.class_index, c.name, count(w.text) AS n_captions
FROM candidates c LEFT JOIN words w ON contains(w.text, c.needle)
GROUP BY c.class_index, c.name
ORDER BY c.class_index, c.name;
