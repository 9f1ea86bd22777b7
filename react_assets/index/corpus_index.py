"""The index stage for the whole corpus: one index per modality over every embedded shard of the
current base model, saved and registered; and the registered indexes read back by retrieval."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from react_assets.embed.encode import EMBEDDING_FILES
from react_assets.embed.lookup import embedding_folders
from react_assets.files.paths import ReactPaths
from react_assets.index.build import BuiltIndex, IndexConfig, build_index
from react_assets.index.files import save_index
from react_assets.index.tune import Shard
from react_assets.metadata import Store
from react_assets.metadata.sql import select_index, upsert_index
from react_assets.models.base import current_base

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusIndexes:
    """The indexes built for one base model, by modality."""

    model_id: str
    n_shards: int
    built: dict[str, BuiltIndex]


def index_paths(store: Store, model_id: str) -> dict[str, Path]:
    """The registered index file of each modality of ``model_id``."""
    return {modality: store.home.resolve(row["path"]) for modality in EMBEDDING_FILES
            for row in store.fetch(select_index, {"model_id": model_id, "modality": modality})}


def corpus_shards(folders: list[Path], modality: str) -> list[Shard]:
    """The (pair ids, embedding file) shard of each embedding folder, for one modality."""
    return [(np.load(folder / "pair_ids.npy"), folder / EMBEDDING_FILES[modality])
            for folder in folders]


def build_corpus_indexes(store: Store, paths: ReactPaths,
                         config: IndexConfig | None = None) -> CorpusIndexes:
    """Build, tune, save and register an index per modality over the current base's embeddings."""
    config = config or IndexConfig()
    model_id = current_base(store).model_id
    folders = embedding_folders(store, model_id)
    if not folders:
        raise ValueError(f"no embeddings for base model {model_id}: materialize corpus_embeddings")
    target_folder = paths.model_indexes(model_id)
    built: dict[str, BuiltIndex] = {}
    for modality in EMBEDDING_FILES:
        index = build_index(corpus_shards(folders, modality), config,
                            target_folder / f"{modality}-work")
        target = save_index(index, target_folder / f"{modality}.faiss")
        store.execute(upsert_index, {
            "model_id": model_id, "modality": modality, "path": store.home.relative(target),
            "factory": index.factory, "params": json.dumps(index.params), "recall": index.recall,
            "recall_target": index.recall_target, "n_vectors": index.n_vectors,
            "build_seconds": index.build_seconds, "bytes_on_disk": index.bytes_on_disk,
            "memory_bytes": index.estimated_memory_bytes,
        })
        log.info("%s index: %s %s recall@%d=%.3f", modality, index.factory, index.params,
                 index.k, index.recall)
        built[modality] = index
    return CorpusIndexes(model_id, len(folders), built)
