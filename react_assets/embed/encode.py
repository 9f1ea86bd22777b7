"""Corpus embedding: image and caption embeddings of one shard, aligned with its DuckDB pairs.

Images are decoded in DataLoader worker processes straight from the tar (members located once by
their header offsets, then read by seek), so memory stays flat whatever the shard size. Work is
written in chunks of rows; a killed run resumes at the first missing chunk, and the final files
(``img_emb.npy``, ``text_emb.npy``, ``pair_ids.npy``; float16, L2-normalised, row i = ordinal i)
appear only when the shard is complete, with ``meta.json`` written last.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from react_assets.corpus.members import member_offsets
from react_assets.corpus.pairs import ShardRows
from react_assets.files.atomic import save_npy, write_json
from react_assets.files.images import decode_rgb
from react_assets.models.caption_features import CaptionFeatures
from react_assets.models.device import model_autocast, model_device, to_model_device
from react_assets.models.hardware import loader_start_method
from react_assets.models.text import encode_texts

log = logging.getLogger(__name__)

EMBEDDING_FILES = {"image": "img_emb.npy", "text": "text_emb.npy"}  # one file per modality
FINAL_FILES = (*EMBEDDING_FILES.values(), "pair_ids.npy")


@dataclass(frozen=True)
class EmbeddingConfig:
    """How a shard is embedded."""

    batch_size: int = 256
    text_batch_size: int = 512
    workers: int = 2
    chunk_rows: int = 4096
    # bf16 autocast: "auto" = on for CUDA and for CPUs with AVX512-BF16 or AMX (where it pays),
    # off elsewhere; embeddings match fp32 within cosine 0.999 (tests/models/test_speed.py).
    bf16: str = "auto"


@dataclass
class EmbeddingResult:
    """What embedding one shard produced."""

    shard_id: str
    folder: Path
    n_rows: int
    dim: int
    model_id: str
    seconds: float
    resumed_chunks: int
    skipped_complete: bool

    @property
    def pairs_per_second(self) -> float:
        return self.n_rows / self.seconds if self.seconds > 0 else 0.0


class TarImageDataset(Dataset):
    """Images of one tar by index, read by seek, decoded into RGB by ``decode_rgb`` and
    transformed in the worker process; ``names`` (the members) name an image that fails."""

    def __init__(self, tar_path: Path, offsets: list[tuple[int, int]],
                 transform: Callable[[Image.Image], torch.Tensor],
                 names: Sequence[str] | None = None) -> None:
        self.tar_path = tar_path
        self.offsets = offsets
        self.transform = transform
        self.names = names
        self._handle: io.BufferedReader | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._handle is None:  # opened lazily so that each worker has its own handle
            self._handle = open(self.tar_path, "rb")  # noqa: SIM115
        offset, size = self.offsets[index]
        self._handle.seek(offset)
        member = self.names[index] if self.names is not None else f"member at byte {offset}"
        return self.transform(decode_rgb(self._handle.read(size), f"{self.tar_path}: {member}"))


def embed_shard(
    rows: ShardRows,
    model: torch.nn.Module,
    preprocess: Callable[[Image.Image], torch.Tensor],
    tokenizer: Callable[[list[str]], torch.Tensor],
    out_dir: Path,
    config: EmbeddingConfig,
    model_id: str,
    known_captions: CaptionFeatures | None = None,
) -> EmbeddingResult:
    """Embed one shard into ``out_dir``; skip it if complete, resume it from chunks if killed.

    ``known_captions``: features this model's text tower already gave some captions (checked by
    the caller); those captions are not encoded again."""
    started = time.perf_counter()
    n = len(rows.pair_ids)
    if _is_complete(out_dir, model_id, rows.pair_ids):
        meta = json.loads((out_dir / "meta.json").read_text())
        return EmbeddingResult(rows.shard_id, out_dir, n, meta["dim"], model_id, 0.0, 0, True)
    parts = out_dir / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    _reset_parts_if_stale(parts, model_id, rows.pair_ids)
    dataset = TarImageDataset(rows.tar_path, member_offsets(rows.tar_path, rows.image_members),
                              preprocess, rows.image_members)
    n_chunks = max(1, -(-n // config.chunk_rows))
    resumed = 0
    model.eval()
    bar = tqdm(total=n, desc=f"embed {rows.shard_id}", unit="pair", leave=False)
    for chunk in range(n_chunks):
        lo, hi = chunk * config.chunk_rows, min(n, (chunk + 1) * config.chunk_rows)
        img_part, txt_part = parts / f"img-{chunk:05d}.npy", parts / f"txt-{chunk:05d}.npy"
        if img_part.exists() and txt_part.exists():
            resumed += 1
        else:
            images = _encode_images(model, dataset, range(lo, hi), config)
            texts = _encode_texts(model, tokenizer, list(rows.captions[lo:hi]), config,
                                  known_captions)
            save_npy(txt_part, texts)
            save_npy(img_part, images)  # written last: its presence marks the chunk done
        bar.update(hi - lo)
    bar.close()
    img = np.concatenate([np.load(parts / f"img-{c:05d}.npy") for c in range(n_chunks)])
    txt = np.concatenate([np.load(parts / f"txt-{c:05d}.npy") for c in range(n_chunks)])
    save_npy(out_dir / "img_emb.npy", img)
    save_npy(out_dir / "text_emb.npy", txt)
    save_npy(out_dir / "pair_ids.npy", rows.pair_ids.astype(np.int64))
    seconds = time.perf_counter() - started
    write_json(out_dir / "meta.json", {
        "shard_id": rows.shard_id, "model_id": model_id, "n_rows": n, "dim": int(img.shape[1]),
        "pair_ids_digest": pair_ids_digest(rows.pair_ids), "seconds": seconds, "config": asdict(config),
    })
    for part in parts.glob("*.npy"):
        part.unlink()
    return EmbeddingResult(rows.shard_id, out_dir, n, int(img.shape[1]), model_id, seconds,
                           resumed, False)


@torch.inference_mode()
def _encode_images(model: torch.nn.Module, dataset: TarImageDataset, indices: range,
                   config: EmbeddingConfig) -> np.ndarray:
    subset = torch.utils.data.Subset(dataset, list(indices))
    loader = DataLoader(subset, batch_size=config.batch_size, num_workers=config.workers,
                        multiprocessing_context=loader_start_method(config.workers))
    feats = []
    with model_autocast(model, config.bf16):
        for batch in loader:
            image_f = model.encode_image(to_model_device(model, batch))
            feats.append(torch.nn.functional.normalize(image_f.float(), dim=-1).cpu())
    return torch.cat(feats).numpy().astype(np.float16)


@torch.inference_mode()
def _encode_texts(model: torch.nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                  captions: list[str], config: EmbeddingConfig,
                  known: CaptionFeatures | None = None) -> np.ndarray:
    """Caption embeddings; each distinct caption is encoded once (web alt-text repeats a lot),
    and not at all when ``known`` holds it."""
    unique, inverse = np.unique(np.array(captions, dtype=object), return_inverse=True)
    if not len(unique):
        return np.zeros(0, dtype=np.float16)
    held = np.zeros(len(unique), dtype=bool)
    parts = []  # (mask of the distinct captions, their features)
    if known is not None:
        held, found = known.known(list(unique))
        parts.append((held, found))
    if not held.all():
        with model_autocast(model, config.bf16):  # shortest first, each batch cut to its longest
            parts.append((~held, encode_texts(model, tokenizer, list(unique[~held]),
                                              config.text_batch_size,
                                              device=model_device(model)).numpy()))
    feats = np.empty((len(unique), parts[-1][1].shape[1]), dtype=np.float16)
    for mask, values in parts:
        feats[mask] = values
    return feats[inverse]


def pair_ids_digest(pair_ids: np.ndarray) -> str:
    """SHA-256 of the pair ids in row order: the identity of a shard's embedding rows."""
    return hashlib.sha256(np.ascontiguousarray(pair_ids, dtype=np.int64).tobytes()).hexdigest()


def _is_complete(out_dir: Path, model_id: str, pair_ids: np.ndarray) -> bool:
    meta_path = out_dir / "meta.json"
    if not meta_path.exists() or not all((out_dir / f).exists() for f in FINAL_FILES):
        return False
    meta = json.loads(meta_path.read_text())
    return meta.get("model_id") == model_id and meta.get("pair_ids_digest") == pair_ids_digest(pair_ids)


def _reset_parts_if_stale(parts: Path, model_id: str, pair_ids: np.ndarray) -> None:
    """Chunks from another model or another version of the shard must not be reused."""
    stamp = parts / "stamp.json"
    want = {"model_id": model_id, "pair_ids_digest": pair_ids_digest(pair_ids)}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return
    for part in parts.glob("*.npy"):
        part.unlink()
    write_json(stamp, want)
