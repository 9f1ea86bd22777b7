"""The tiny demo world and run config the end-to-end and backfill tests materialize."""

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
