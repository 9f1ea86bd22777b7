"""Reuse embeddings made by clip-retrieval (``img_emb/``, ``text_emb/``, ``metadata/``).

A team that already embedded its corpus with clip-retrieval's ``inference`` does not need to
embed it again: this converts its output into our per-shard layout (float16, L2-normalised, row
i = ingested pair i), matching rows by sample key.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from react_assets.corpus.pairs import ShardRows
from react_assets.embed.encode import EmbeddingResult, pair_ids_digest
from react_assets.files.atomic import save_npy, write_json

KEY_COLUMNS = ("key", "image_path")


def _numbered(folder: Path, prefix: str, suffix: str) -> list[Path]:
    files = list(folder.glob(f"{prefix}_*{suffix}"))
    return sorted(files, key=lambda p: int(re.findall(r"(\d+)", p.stem)[-1]))


def read_clip_retrieval(folder: Path | str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sample keys, image embeddings, text embeddings) of a clip-retrieval output folder."""
    folder = Path(folder)
    img_files = _numbered(folder / "img_emb", "img_emb", ".npy")
    txt_files = _numbered(folder / "text_emb", "text_emb", ".npy")
    meta_files = _numbered(folder / "metadata", "metadata", ".parquet")
    if not img_files or len(img_files) != len(meta_files) or len(txt_files) != len(img_files):
        raise ValueError(f"{folder}: expected matching img_emb/img_emb_N.npy, text_emb/"
                         f"text_emb_N.npy and metadata/metadata_N.parquet files, found "
                         f"{len(img_files)}, {len(txt_files)} and {len(meta_files)}")
    keys: list[str] = []
    for meta in meta_files:
        table = pq.read_table(meta)
        column = next((c for c in KEY_COLUMNS if c in table.column_names), None)
        if column is None:
            raise ValueError(f"{meta}: no {' or '.join(KEY_COLUMNS)} column to match samples by")
        keys += [Path(str(v)).stem for v in table.column(column).to_pylist()]
    img = np.concatenate([np.load(f, mmap_mode="r") for f in img_files])
    txt = np.concatenate([np.load(f, mmap_mode="r") for f in txt_files])
    if not len(keys) == len(img) == len(txt):
        raise ValueError(f"{folder}: {len(keys)} metadata rows, {len(img)} image and {len(txt)} "
                         "text embeddings")
    return keys, img, txt


def import_clip_retrieval(folder: Path | str, rows: ShardRows, out_dir: Path,
                          model_id: str) -> EmbeddingResult:
    """Write the embeddings of ``rows`` taken from a clip-retrieval folder in our layout."""
    keys, img, txt = read_clip_retrieval(folder)
    position = {key: i for i, key in enumerate(keys)}
    wanted = [Path(m).name.split(".", 1)[0] for m in rows.image_members]
    missing = [k for k in wanted if k not in position]
    if missing:
        raise KeyError(f"{folder}: {len(missing)} pairs of shard {rows.shard_id} have no "
                       f"embedding there, e.g. {missing[:3]}")
    order = np.array([position[k] for k in wanted], dtype=np.int64)
    out = {}
    for name, array in (("img_emb.npy", img), ("text_emb.npy", txt)):
        vectors = np.asarray(array[order], dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        out[name] = vectors.astype(np.float16)
        save_npy(out_dir / name, out[name])
    save_npy(out_dir / "pair_ids.npy", rows.pair_ids.astype(np.int64))
    dim = int(out["img_emb.npy"].shape[1])
    write_json(out_dir / "meta.json", {
        "shard_id": rows.shard_id, "model_id": model_id, "n_rows": len(order), "dim": dim,
        "source": f"clip-retrieval:{Path(folder).resolve()}", "seconds": 0.0,
        "pair_ids_digest": pair_ids_digest(rows.pair_ids),
    })
    return EmbeddingResult(rows.shard_id, out_dir, len(order), dim, model_id, 0.0, 0, False)
