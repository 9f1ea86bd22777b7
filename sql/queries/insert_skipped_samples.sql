-- Insert skipped-sample records from the registered Arrow table `batch` (no bound values).
INSERT INTO skipped_samples SELECT shard_id, key, reason, detail FROM batch;
