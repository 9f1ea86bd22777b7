"""The embedding stage for corpus shards: encode them with the current base model (or import
clip-retrieval's output for them) and record each shard's embedding set."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from react_assets.corpus.pairs import shard_rows
from react_assets.embed.clip_retrieval import import_clip_retrieval
from react_assets.embed.encode import EmbeddingConfig, EmbeddingResult, embed_shard
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import upsert_embedding_set
from react_assets.models.base import current_base, load_base_bundle
from react_assets.models.caption_features import CAPTION_FEATURES_FILE, CaptionFeatures
from react_assets.models.factory import ClipBundle, local_model_dir

log = logging.getLogger(__name__)


def embed_corpus_shards(store: Store, paths: ReactPaths, shard_ids: Sequence[str],
                        config: EmbeddingConfig | None = None,
                        clip_retrieval_dir: Path | str | None = None) -> list[EmbeddingResult]:
    """Embed ingested shards with the current base model and register each one's embedding set.

    The base model and its known caption features are loaded once for all of ``shard_ids``;
    the shards are then embedded one after another, each registered as soon as it is done (a
    failure leaves the shards before it registered, and a rerun skips them as complete).
    Returns one result per shard, in the order given.

    With ``clip_retrieval_dir``, the shards' embeddings are taken from clip-retrieval's output
    instead of being computed (they must come from the same base model). Caption features saved
    in the base model's folder (the demo base's pre-training captions) are not encoded again.
    """
    if not shard_ids:
        raise ValueError("embed_corpus_shards: no shard ids given")
    config = config or EmbeddingConfig()
    bundle = load_base_bundle(store)
    known = None if clip_retrieval_dir else _known_captions(store, bundle)
    results = []
    for shard_id in shard_ids:
        rows = shard_rows(store, shard_id, paths.shard_tar(shard_id))
        out_dir = paths.shard_embeddings(bundle.model_id, shard_id)
        if clip_retrieval_dir:
            result = import_clip_retrieval(clip_retrieval_dir, rows, out_dir, bundle.model_id)
        else:
            result = embed_shard(rows, bundle.model, bundle.preprocess_val, bundle.tokenizer,
                                 out_dir, config, bundle.model_id, known)
        if not result.skipped_complete:
            store.execute(upsert_embedding_set, {
                "shard_id": shard_id, "model_id": bundle.model_id,
                "folder": store.home.relative(result.folder), "n_rows": result.n_rows,
                "dim": result.dim, "pairs_per_second": result.pairs_per_second,
            })
        log.info("shard %s: %d rows %s (%d of %d shards)", shard_id, result.n_rows,
                 "already complete" if result.skipped_complete
                 else f"at {result.pairs_per_second:.0f} pairs/s", len(results) + 1, len(shard_ids))
        results.append(result)
    return results


def _known_captions(store: Store, bundle: ClipBundle) -> CaptionFeatures | None:
    """Caption features kept in the base model's folder, when its text tower made them."""
    folder = local_model_dir(current_base(store).config)
    known = CaptionFeatures.load(folder / CAPTION_FEATURES_FILE) if folder else None
    if known is not None and not known.made_by(bundle.model, bundle.tokenizer):
        log.warning("caption features in %s were not made by the base's text tower; encoding "
                    "every caption", folder)
        return None
    return known
