-- The metadata snapshot a model was trained at (NULL for models made before snapshots were
-- recorded, and for imported ones). Binds: $model_id.
SELECT metadata_snapshot FROM models WHERE model_id = $model_id;
