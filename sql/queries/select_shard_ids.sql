-- Every ingested shard id. No binds.
SELECT shard_id FROM shards ORDER BY shard_id;
