-- The index of one model and modality. Binds: $model_id, $modality.
SELECT path, factory, params, recall, recall_target, n_vectors FROM indexes
WHERE model_id = $model_id AND modality = $modality;
