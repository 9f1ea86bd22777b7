"""The tiny demo world and run config the end-to-end and backfill tests materialize, and the tiny
base model that tests register without pre-training."""

from react_assets.models.factory import BaseModelConfig

TINY_BASE = BaseModelConfig(arch="react-tiny", init_seed=0)

TINY_WORLD = {
    "samples_per_shard": 400, "fashion_train_limit": 300, "fashion_test_limit": 60,
    "clipart_limit": 300, "emoji_limit": 150, "digits_limit": 300,
}
TINY_RUN_CONFIG = {
    "demo_world_job": {"ops": {"demo_world": {"config": TINY_WORLD}}},
    "base_model_job": {"ops": {"base_model": {"config": {
        "pretrain_epochs": 1, "pretrain_batch_size": 32, "pretrain_max_pairs": 128}}}},
    "embedding_job": {"ops": {"corpus_embeddings": {"config": {"batch_size": 64, "workers": 0}}}},
    "index_job": {"ops": {"knn_index": {"config": {"n_tune_queries": 50}}}},
    "domain_job": {"ops": {
        # The 1-epoch base model maps most images close together: the demo spec's near-duplicate
        # cut (0.99, for the fully trained base) would leave a domain almost no pairs.
        "retrieved_pairs": {"config": {"k_per_query": 10, "mode": "text-to-image",
                                       "near_duplicate_threshold": 0.95}},
        # the tiny world's 1-epoch base model leaves some classes without pairs
        "retrieved_pairs_min_pairs_per_class": {"config": {"min_pairs_per_class": 0}},
        "react_model": {"config": {"variants": ["real-prompt", "real-linear", "gated-image"],
                                   "epochs": 1, "batch_size": 32}},
        "zeroshot_eval": {"config": {"batch_size": 64}},
    }},
}


def register_tiny_base(store) -> str:
    """Record the randomly initialised ``react-tiny`` model (``TINY_BASE``) as the store's current
    base model, as pre-training would; returns its model id."""
    import json
    from dataclasses import asdict

    from react_assets.metadata.sql import upsert_model

    from react_assets.models.factory import create_base_model

    model_id = create_base_model(TINY_BASE).model_id
    store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": None, "kind": "base", "domain": None,
        "arch": TINY_BASE.arch, "pretrained": None, "checkpoint": None, "retrieval_digest": None,
        "metadata_snapshot": None, "config": json.dumps(asdict(TINY_BASE)),
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": None,
        "spec_digest": None})
    return model_id
