"""Zero-shot image<->text retrieval recall@k on a local captioned set.

Layout: ``<root>/pairs.jsonl``, one JSON object per line, ``{"image": <path relative to root>,
"caption": <text>}``. An image may appear on several lines (several captions, as in COCO or
Flickr30k); it is encoded once. Image-to-text: an image is a hit at k when any of its captions is
among the k texts most similar to it. Text-to-image: a caption is a hit when its image is among
the k most similar images. Ties in similarity go to the lower index (stable sort).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from react_assets.domains.images import DatasetLayoutError, load_rgb
from react_assets.models.device import eval_mode, model_autocast, to_model_device

logger = logging.getLogger(__name__)

PAIRS_FILE = "pairs.jsonl"
DEFAULT_KS = (1, 5, 10)


def read_pairs(root: Path | str) -> tuple[list[Path], list[str], np.ndarray]:
    """Unique image paths, captions, and for each caption the index of its image."""
    root = Path(root)
    pairs_file = root / PAIRS_FILE
    if not pairs_file.is_file():
        raise DatasetLayoutError(f"retrieval set {root}: {PAIRS_FILE} not found")
    images: dict[str, int] = {}
    captions: list[str] = []
    owner: list[int] = []
    for number, line in enumerate(pairs_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetLayoutError(f"{pairs_file} line {number}: not JSON: {err}") from err
        if not isinstance(row, dict) or not isinstance(row.get("image"), str) \
                or not isinstance(row.get("caption"), str) or not row["caption"].strip():
            raise DatasetLayoutError(f"{pairs_file} line {number}: expected "
                                     "{\"image\": str, \"caption\": non-empty str}")
        if row["image"] not in images:
            if not (root / row["image"]).is_file():
                raise DatasetLayoutError(f"{pairs_file} line {number}: image "
                                         f"{root / row['image']} not found")
            images[row["image"]] = len(images)
        captions.append(row["caption"])
        owner.append(images[row["image"]])
    if not captions:
        raise DatasetLayoutError(f"{pairs_file} lists no pairs")
    return [root / rel for rel in images], captions, np.asarray(owner, dtype=np.int64)


def retrieval_hits(image_features: torch.Tensor, text_features: torch.Tensor,
                   text_to_image: np.ndarray, ks: Sequence[int] = DEFAULT_KS
                   ) -> dict[str, np.ndarray]:
    """Per query, whether it is a hit at k, both ways: ``image_to_text_R@k`` (I,) per image,
    ``text_to_image_R@k`` (T,) per caption. Features are normalised here."""
    similarity = (F.normalize(image_features.float(), dim=-1)
                  @ F.normalize(text_features.float(), dim=-1).T).numpy()   # (I, T)
    n_images, n_texts = similarity.shape
    text_rank = np.argsort(-similarity, axis=1, kind="stable")      # texts per image, best first
    image_rank = np.argsort(-similarity.T, axis=1, kind="stable")   # images per text, best first
    # position of the best-ranked own caption of each image, and of its image for each text
    own = text_to_image[text_rank] == np.arange(n_images)[:, None]
    first_caption = np.where(own.any(axis=1), own.argmax(axis=1), n_texts)
    image_position = (image_rank == text_to_image[:, None]).argmax(axis=1)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"image_to_text_R@{k}"] = first_caption < k
        out[f"text_to_image_R@{k}"] = image_position < k
    return out


def retrieval_recalls(image_features: torch.Tensor, text_features: torch.Tensor,
                      text_to_image: np.ndarray, ks: Sequence[int] = DEFAULT_KS
                      ) -> dict[str, float]:
    """Recall@k both ways from features (normalised here) and each text's image index."""
    hits = retrieval_hits(image_features, text_features, text_to_image, ks)
    return {key: float(flags.mean()) for key, flags in hits.items()}


@torch.no_grad()
def encode_captions(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                    root: Path | str, batch_size: int = 64) -> torch.Tensor:
    """Text features (T, D), float32 on the CPU, of the captions of the pairs under ``root``:
    models sharing a text tower share them (``evaluate_retrieval(text_features=)``)."""
    _, captions, _ = read_pairs(root)
    with eval_mode(model):
        chunks = []
        for start in tqdm(range(0, len(captions), batch_size), desc="encode captions", leave=False):
            tokens = to_model_device(model, tokenizer(captions[start:start + batch_size]))
            with model_autocast(model):
                chunks.append(model.encode_text(tokens).float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def evaluate_retrieval(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                       preprocess: Callable[[Any], torch.Tensor], root: Path | str,
                       batch_size: int = 64, ks: Sequence[int] = DEFAULT_KS,
                       text_features: torch.Tensor | None = None) -> dict[str, float]:
    """Image<->text recall@k (keys ``image_to_text_R@k``, ``text_to_image_R@k``) on ``root``;
    ``text_features``: the captions' (from :func:`encode_captions`), else encoded here."""
    hits = evaluate_retrieval_hits(model, tokenizer, preprocess, root, batch_size, ks,
                                   text_features)
    return {key: float(flags.mean()) for key, flags in hits.items()}


@torch.no_grad()
def evaluate_retrieval_hits(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                            preprocess: Callable[[Any], torch.Tensor], root: Path | str,
                            batch_size: int = 64, ks: Sequence[int] = DEFAULT_KS,
                            text_features: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """:func:`evaluate_retrieval`'s hits per query (:func:`retrieval_hits`), whose means are the
    recalls: what a bootstrap over the queries resamples."""
    image_paths, captions, text_to_image = read_pairs(root)
    if text_features is None:
        text_features = encode_captions(model, tokenizer, root, batch_size)
    if len(text_features) != len(captions):
        raise ValueError(f"{len(text_features)} text features for {len(captions)} captions")
    with eval_mode(model):
        image_chunks = []
        starts = range(0, len(image_paths), batch_size)
        for start in tqdm(starts, desc="encode images", leave=False):
            batch = torch.stack([preprocess(load_rgb(p.read_bytes(), str(p)))
                                 for p in image_paths[start:start + batch_size]])
            with model_autocast(model):
                image_f = model.encode_image(to_model_device(model, batch))
            image_chunks.append(image_f.float().cpu())
    hits = retrieval_hits(torch.cat(image_chunks), text_features, text_to_image, ks)
    logger.info("retrieval %s: %d images, %d captions: %s", root, len(image_paths), len(captions),
                {key: round(float(flags.mean()), 4) for key, flags in hits.items()})
    return hits
