-- Ingested shards whose tar has the given sha256 (the same bytes landed before). Binds: $tar_sha256.
SELECT shard_id, path FROM shards WHERE tar_sha256 = $tar_sha256 ORDER BY shard_id;
