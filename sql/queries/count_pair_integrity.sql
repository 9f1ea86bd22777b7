-- Integrity counts: duplicate pair ids and pairs whose shard is not registered. No binds.
SELECT
    (SELECT count(*) - count(DISTINCT pair_id) FROM pairs) AS duplicate_pair_ids,
    (SELECT count(*) FROM pairs p LEFT JOIN shards s USING (shard_id) WHERE s.shard_id IS NULL)
        AS orphan_pairs;
