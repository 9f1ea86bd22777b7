"""The kNN index over corpus embeddings: choose, build, tune, save and load.

Entry points: :func:`choose_factory`, :func:`build_index`, :func:`save_index`,
:func:`load_index`. An index file ``X.faiss`` is written with ``faiss.write_index`` (no pickle)
beside a JSON sidecar ``X.faiss.json`` that records the factory string, the tuned search
parameters, the measured recall, the build time, the bytes on disk and the estimated memory.
An on-disk IVF index also owns ``X.ivfdata``, the memory-mapped inverted lists.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import faiss

from react_assets.files.atomic import atomic_path, write_json
from react_assets.index.build import (
    BuiltIndex,
    IndexConfig,
    build_index,
    choose_factory,
    estimate_memory_bytes,
)
from react_assets.index.tune import ShardError, apply_search_params, recall_at_k

__all__ = ["BuiltIndex", "IndexConfig", "ShardError", "build_index", "choose_factory",
           "estimate_memory_bytes", "load_index", "recall_at_k", "save_index", "sidecar_path"]
LOG = logging.getLogger(__name__)
RECORD_FIELDS = ("factory", "params", "recall", "recall_target", "k", "n_vectors", "dim",
                 "build_seconds", "estimated_memory_bytes", "on_disk", "bytes_on_disk",
                 "n_train", "n_tune_queries")


def sidecar_path(path: Path | str) -> Path:
    """The JSON record beside an index file."""
    return Path(f"{path}.json")


def _move_ivfdata(built: BuiltIndex, target: Path) -> Path:
    """Move an on-disk index's inverted lists beside ``target`` and repoint the index at them."""
    source = Path(str(built.extra["ivfdata"]))
    destination = target.with_suffix(".ivfdata")
    if source.resolve() != destination.resolve():
        with atomic_path(destination) as tmp:
            shutil.copyfile(source, tmp)  # copy + rename: works across filesystems, atomically
    ivf = faiss.extract_index_ivf(built.index)
    invlists = faiss.downcast_InvertedLists(ivf.invlists)
    invlists.filename = str(destination.resolve())
    return destination


def save_index(built: BuiltIndex, path: Path | str) -> Path:
    """Write the index (atomically: temporary name, then rename) and its JSON sidecar."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    if built.on_disk:
        ivfdata = _move_ivfdata(built, target)
        built.extra["ivfdata"] = str(ivfdata.resolve())
        size += ivfdata.stat().st_size
    with atomic_path(target) as tmp:
        faiss.write_index(built.index, str(tmp))
    size += os.path.getsize(target)
    built.bytes_on_disk = size
    write_json(sidecar_path(target), built.record())
    LOG.info("saved %s (%s, %d vectors, %.1f MB)", target, built.factory, built.n_vectors,
             size / 1e6)
    return target


def load_index(path: Path | str) -> BuiltIndex:
    """Read an index written by :func:`save_index` and re-apply its tuned search parameters."""
    target = Path(path)
    record_file = sidecar_path(target)
    if not target.is_file():
        raise FileNotFoundError(f"{target}: index file does not exist")
    if not record_file.is_file():
        raise FileNotFoundError(f"{record_file}: index sidecar missing (was {target} written "
                                "by save_index?)")
    record = json.loads(record_file.read_text(encoding="utf-8"))
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        raise ValueError(f"{record_file}: sidecar lacks fields {missing}")
    # no IO_FLAG_MMAP: an on-disk IVF memory-maps its .ivfdata itself, and faiss 1.15
    # crashes on search when the flag is combined with OnDiskInvertedLists
    index = faiss.read_index(str(target))
    if index.ntotal != record["n_vectors"] or index.d != record["dim"]:
        raise ValueError(f"{target}: holds {index.ntotal} vectors of dim {index.d}, sidecar "
                         f"says {record['n_vectors']} of dim {record['dim']}")
    apply_search_params(index, record["params"])
    extra = {key: value for key, value in record.items()
             if key not in RECORD_FIELDS and key not in ("metric", "recall_target_met")}
    return BuiltIndex(index=index, extra=extra, **{name: record[name] for name in RECORD_FIELDS})
