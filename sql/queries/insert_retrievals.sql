-- Insert retrieved pairs from the registered Arrow table `batch` (no bound values).
INSERT INTO retrievals SELECT domain, class_index, class_name, pair_id, score, rank, mode FROM batch;
