-- Remove the skipped-sample records of one shard before it is re-ingested. Binds: $shard_id.
DELETE FROM skipped_samples WHERE shard_id = $shard_id;
