-- Insert retrieved pairs from the registered Arrow table `batch` (no bound values).
INSERT INTO retrievals (set_digest, domain, class_index, class_name, pair_id, score, rank, mode)
SELECT set_digest, domain, class_index, class_name, pair_id, score, rank, mode FROM batch;
