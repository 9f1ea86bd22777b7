-- The pair ids of one shard in row order (the row order of its embeddings). Binds: $shard_id.
SELECT pair_id FROM pairs WHERE shard_id = $shard_id ORDER BY ordinal;
