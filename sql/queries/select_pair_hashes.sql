-- Image hashes of the given pairs. Binds: $pair_ids (BIGINT[]).
SELECT pair_id, image_sha256 FROM pairs WHERE pair_id IN (SELECT unnest($pair_ids::BIGINT[]));
