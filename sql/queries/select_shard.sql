-- One ingested shard's record (tar digest, counts, skips by reason). Binds: $shard_id.
SELECT shard_id, path, tar_sha256, n_members, n_pairs, n_skipped, skipped
FROM shards WHERE shard_id = $shard_id;
