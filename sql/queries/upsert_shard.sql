-- Record (or replace) one ingested shard. Binds: $shard_id, $path, $tar_sha256, $n_members,
-- $n_pairs, $n_skipped, $skipped.
MERGE INTO shards USING (
    SELECT $shard_id AS shard_id, $path AS path, $tar_sha256 AS tar_sha256,
           $n_members AS n_members, $n_pairs AS n_pairs, $n_skipped AS n_skipped,
           $skipped AS skipped, current_timestamp AS ingested_at
) s USING (shard_id)
WHEN MATCHED THEN UPDATE WHEN NOT MATCHED THEN INSERT;
