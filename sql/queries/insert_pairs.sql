-- Insert the pairs of one shard from the registered Arrow table `batch` (no bound values).
INSERT INTO pairs
SELECT pair_id, shard_id, ordinal, key, image_member, caption, source, width, height,
       image_bytes, image_sha256, url, meta
FROM batch;
