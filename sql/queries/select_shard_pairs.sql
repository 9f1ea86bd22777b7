-- Every pair of one shard in row order (the order of its embeddings). Binds: $shard_id.
SELECT pair_id, ordinal, key, image_member, caption, source, image_sha256
FROM pairs WHERE shard_id = $shard_id ORDER BY ordinal;
