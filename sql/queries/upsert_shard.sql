-- Record (or replace) one ingested shard. Binds: $shard_id, $path, $tar_sha256, $n_members,
-- $n_pairs, $n_skipped, $skipped.
INSERT OR REPLACE INTO shards
    (shard_id, path, tar_sha256, n_members, n_pairs, n_skipped, skipped, ingested_at)
VALUES ($shard_id, $path, $tar_sha256, $n_members, $n_pairs, $n_skipped, $skipped, current_timestamp);
