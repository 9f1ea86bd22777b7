"""Retrieval for one domain: encode its queries with the base model, search, store the pairs.

The search, merge, de-duplication and decontamination logic lives in :mod:`react_assets.retrieve.core`;
this module feeds it from the pipeline's stores (embeddings, index, DuckDB, evaluation images).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

from react_assets.corpus.pairs import read_pairs
from react_assets.domains.datasets import dataset_sha256s, iter_dataset_images
from react_assets.domains.images import load_rgb
from react_assets.domains.registry import RegisteredDomain, registered_domain
from react_assets.domains.settings import RetrievalConfig
from react_assets.domains.spec import DomainSpec
from react_assets.embed.lookup import EmbeddingLookup, embedding_folders
from react_assets.files.paths import ReactPaths
from react_assets.index.corpus_index import corpus_shards, index_paths
from react_assets.index.files import load_index
from react_assets.metadata import Store
from react_assets.metadata.sql import select_domain_retrievals, select_pair_hashes
from react_assets.models.base import current_base, load_base_bundle
from react_assets.models.device import model_autocast, to_model_device
from react_assets.models.factory import ClipBundle
from react_assets.retrieve.core import (
    GENERAL_CLASS,
    RetrievalResult,
    RetrievalStats,
    retrieve_domain,
)
from react_assets.retrieve.grid import retrieval_grid
from react_assets.retrieve.recall import RecallCheck
from react_assets.retrieve.sets import RetrievalRetention, store_retrieval_set

log = logging.getLogger(__name__)


@torch.inference_mode()
def encode_texts(bundle: ClipBundle, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """L2-normalised float32 text embeddings."""
    model = bundle.model
    chunks = []
    for i in range(0, len(texts), batch_size):
        tokens = to_model_device(model, bundle.tokenizer(texts[i:i + batch_size]))
        with model_autocast(model):
            chunks.append(model.encode_text(tokens, normalize=True).float().cpu())
    return torch.cat(chunks).numpy()


@torch.inference_mode()
def encode_images(bundle: ClipBundle, images: list[Image.Image], batch_size: int = 256
                  ) -> np.ndarray:
    """L2-normalised float32 image embeddings."""
    chunks = []
    for i in range(0, len(images), batch_size):
        batch = torch.stack([bundle.preprocess_val(img) for img in images[i:i + batch_size]])
        with model_autocast(bundle.model):
            chunks.append(bundle.model.encode_image(to_model_device(bundle.model, batch),
                                                    normalize=True).float().cpu())
    if not chunks:
        return np.zeros((0, bundle.embed_dim), dtype=np.float32)
    return torch.cat(chunks).numpy()


def domain_queries(bundle: ClipBundle, domain: DomainSpec, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(class index per query, query vectors): class x template texts, or example images."""
    if mode == "image-to-image":
        pairs = [(c, path) for c, name in enumerate(domain.classes)
                 for path in domain.examples.get(name, ())]
        if not pairs:
            raise ValueError(f"domain {domain.name} has no example images for image-to-image mode")
        images = [load_rgb(Path(p).read_bytes(), str(p)) for _, p in pairs]
        return np.array([c for c, _ in pairs]), encode_images(bundle, images)
    queries = domain.queries()
    return np.array([c for c, _ in queries]), encode_texts(bundle, [t for _, t in queries])


def domain_retrieval_config(domain: DomainSpec, **overrides: object) -> RetrievalConfig:
    """Retrieval settings: ``overrides`` that are not None, else the spec's, else the defaults."""
    chosen = {**domain.retrieval, **{k: v for k, v in overrides.items() if v is not None}}
    return RetrievalConfig(**chosen)


@dataclass
class DomainRetrieval:
    """What retrieving one domain produced."""

    result: RetrievalResult
    digest: str  # the set's digest (domain, spec version, settings, base model, pairs)
    rows: pa.Table
    config: RetrievalConfig
    classes: tuple[str, ...] = ()
    grid: Path | None = None


def retrieve_for_domain(
    store: Store, bundle: ClipBundle, registered: RegisteredDomain, index_paths: dict[str, Path],
    embedding_folders: list[Path], config: RetrievalConfig,
    retention: RetrievalRetention | None = None,
) -> DomainRetrieval:
    """Run the domain's queries against the index and add the result as a new retrieval set
    (:mod:`react_assets.retrieve.sets`: sets are immutable, kept under their digest).

    No pair whose image is (a near copy of) an image of the domain's evaluation datasets, the
    general sets included, is kept. The index's recall on these queries is checked against
    exact search over the embedding shards, and its search parameter raised until the index's
    recall target is met (:mod:`react_assets.retrieve.recall`); the set's stats record it.
    """
    domain = registered.spec
    modality = "text" if config.mode == "text-to-text" else "image"
    if modality not in index_paths:  # e.g. a new base model, not yet embedded and indexed
        raise ValueError(f"no {modality} index of the current base model "
                         f"({bundle.model_id}) to retrieve domain {domain.name!r} from: "
                         "materialize corpus_embeddings and knn_index for it first")
    query_class, query_vectors = domain_queries(bundle, domain, config.mode)
    built = load_index(index_paths[modality])
    check = RecallCheck(corpus_shards(embedding_folders, modality), built.recall_target)
    eval_images, eval_hashes = [], set()
    for dataset in registered.evaluation_datasets:
        eval_images += [img for _, img in iter_dataset_images(dataset)]
        eval_hashes |= dataset_sha256s(dataset)
    eval_vectors = encode_images(bundle, eval_images)
    embeddings = EmbeddingLookup(embedding_folders)
    result = retrieve_domain(
        query_class, query_vectors, built.index, config,
        pair_sha256=lambda ids: _pair_hashes(store, ids),
        pair_vectors=embeddings,
        eval_vectors=eval_vectors, eval_sha256=eval_hashes, corpus_ids=embeddings.ids,
        recall_check=check,
    )
    if not any(result.stats.count_per_class):
        raise ValueError(empty_retrieval_message(domain.name, result.stats, config))
    rows = _result_table(domain, result, config.mode)
    digest = store_retrieval_set(
        store, domain=domain.name, rows=rows, config=config, base_model_id=bundle.model_id,
        n_queries=len(query_class), stats=result.stats.as_dict(), retention=retention,
        spec_digest=registered.digest)
    return DomainRetrieval(result, digest, rows, config, tuple(domain.classes))


def empty_retrieval_message(domain: str, stats: RetrievalStats, config: RetrievalConfig) -> str:
    """Why a retrieval kept no pair for any class, and which settings to change."""
    return (f"retrieval for domain {domain!r} kept no pair for any of its classes: "
            f"{stats.n_hits} hits from {stats.n_queries} queries ({config.mode}, k_per_query="
            f"{config.k_per_query}), {stats.removed_duplicates} removed as duplicates, "
            f"{stats.removed_exact_contamination} as exact and "
            f"{stats.removed_near_contamination} as near copies of evaluation images "
            f"(near_duplicate_threshold={config.near_duplicate_threshold}). Raise k_per_query, "
            f"raise near_duplicate_threshold or try another mode; nothing was stored")


def _pair_hashes(store: Store, ids: np.ndarray) -> dict[int, str]:
    rows = store.fetch(select_pair_hashes, {"pair_ids": [int(i) for i in ids]})
    return {int(r["pair_id"]): r["image_sha256"] for r in rows}


GENERAL_CLASS_NAME = "(general)"


def _result_table(domain: DomainSpec, result: RetrievalResult, mode: str) -> pa.Table:
    classes = [GENERAL_CLASS_NAME if c == GENERAL_CLASS else domain.classes[int(c)]
               for c in result.class_index]
    return pa.table({
        "domain": pa.array([domain.name] * len(classes), pa.string()),
        "class_index": pa.array(result.class_index, pa.int32()),
        "class_name": pa.array(classes, pa.string()),
        "pair_id": pa.array(result.pair_id, pa.int64()),
        "score": pa.array(result.score, pa.float32()),
        "rank": pa.array(result.rank, pa.int32()),
        "mode": pa.array([mode] * len(classes), pa.string()),
    })


def retrieval_grid_for_domain(store: Store, domain: DomainSpec, path: Path, n_classes: int = 4,
                              per_class: int = 8) -> Path:
    """A PNG grid of the top retrieved pairs of the first ``n_classes`` classes."""
    rows = store.fetch(select_domain_retrievals, {"domain": domain.name})
    chosen: dict[str, list[int]] = {}
    for row in rows:
        if row["class_index"] == GENERAL_CLASS:
            continue
        ids = chosen.setdefault(row["class_name"], [])
        if len(ids) < per_class and (len(chosen) <= n_classes):
            ids.append(int(row["pair_id"]))
    chosen = {name: ids for name, ids in list(chosen.items())[:n_classes] if ids}
    wanted = [i for ids in chosen.values() for i in ids]
    images: dict[int, Image.Image] = {}
    if wanted:
        read_ids, blobs, _ = read_pairs(store, wanted)
        images = {pid: load_rgb(blob, str(pid)) for pid, blob in zip(read_ids, blobs, strict=True)}
    return retrieval_grid({name: [images[i] for i in ids] for name, ids in chosen.items()}, path)


def retrieve_registered_domain(store: Store, paths: ReactPaths, domain: str,
                               overrides: dict[str, object] | None = None,
                               grid_classes: int = 4) -> DomainRetrieval:
    """Retrieve a registered domain's pairs from the current base model's indexes.

    ``overrides`` (values that are not None) win over the spec's ``retrieval`` settings, which
    win over :class:`RetrievalConfig`'s defaults. Also draws the grid of top pairs per class.
    """
    base = current_base(store)
    registered = registered_domain(store, domain)
    config = domain_retrieval_config(registered.spec, **(overrides or {}))
    done = retrieve_for_domain(store, load_base_bundle(store), registered,
                               index_paths(store, base.model_id),
                               embedding_folders(store, base.model_id), config)
    done.grid = retrieval_grid_for_domain(store, registered.spec, paths.retrieval_grid(domain),
                                          n_classes=grid_classes)
    return done
