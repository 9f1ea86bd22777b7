-- Remove every pair of one shard before it is re-ingested. Binds: $shard_id.
DELETE FROM pairs WHERE shard_id = $shard_id;
