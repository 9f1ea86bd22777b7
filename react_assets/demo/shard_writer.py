"""Deterministic webdataset shards in the img2dataset layout, plus the parquet beside each tar.

Byte-identical output for identical input: members are written in a fixed order with mtime 0,
uid/gid 0, no user names and mode 0644, and files are only replaced when their bytes change.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from react_assets.files.atomic import write_bytes

SHARD_PREFIX = "demo-"
PARQUET_SCHEMA = pa.schema([
    ("key", pa.string()), ("caption", pa.string()), ("source", pa.string()), ("url", pa.string()),
    ("width", pa.int32()), ("height", pa.int32()), ("status", pa.string()),
])


@dataclass(frozen=True)
class CorpusRecord:
    """One corpus pair ready to be written: its key, image bytes, caption and JSON meta."""

    key: str
    png: bytes
    caption: str
    meta: dict[str, Any]


@dataclass
class OutputTracker:
    """Writes files atomically, only when their bytes change, and remembers what it wrote.

    Files are renamed into place without a per-file fsync (thousands of small files);
    :meth:`sync` flushes them all at once, before the build records that it is complete.
    """

    written: set[Path] = field(default_factory=set)
    changed: int = 0

    def write(self, path: Path, data: bytes) -> Path:
        """Atomically write ``data`` to ``path`` unless the file already holds exactly it."""
        self.written.add(path.resolve())
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
        write_bytes(path, data, fsync=False)
        self.changed += 1
        return path

    def sync(self) -> None:
        """Flush every file written so far to disk (one ``os.sync`` instead of one per file)."""
        if self.changed:
            os.sync()

    def remove_stale(self, folder: Path, pattern: str = "**/*") -> list[Path]:
        """Delete files matching ``pattern`` under ``folder`` that this build did not write
        (left by an older config); files of other writers must not match ``pattern``."""
        if not folder.is_dir():
            return []
        stale = [p for p in folder.glob(pattern) if p.is_file() and p.resolve() not in self.written]
        for path in stale:
            path.unlink()
        subfolders = folder.glob("**/*") if pattern == "**/*" else ()
        for sub in sorted((p for p in subfolders if p.is_dir()), reverse=True):
            if not any(sub.iterdir()):
                sub.rmdir()
        return stale


def shard_name(index: int) -> str:
    """``demo-00000``."""
    return f"{SHARD_PREFIX}{index:05d}"


def tar_bytes(records: Sequence[CorpusRecord]) -> bytes:
    """One shard as tar bytes: ``{key}.png``, ``{key}.txt``, ``{key}.json`` per record."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for record in records:
            meta = json.dumps(record.meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
            for ext, data in (("png", record.png), ("txt", record.caption.encode("utf-8")),
                              ("json", meta)):
                info = tarfile.TarInfo(f"{record.key}.{ext}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def parquet_bytes(records: Sequence[CorpusRecord]) -> bytes:
    """The img2dataset-style parquet of one shard (one row per written sample)."""
    table = pa.table({
        "key": [r.key for r in records],
        "caption": [r.caption for r in records],
        "source": [r.meta["source"] for r in records],
        "url": [r.meta.get("url") for r in records],
        "width": [r.meta["width"] for r in records],
        "height": [r.meta["height"] for r in records],
        "status": ["success"] * len(records),
    }, schema=PARQUET_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_shards(
    records: Sequence[CorpusRecord], folder: Path, samples_per_shard: int, tracker: OutputTracker
) -> list[dict[str, Any]]:
    """Write ``records`` in order into consecutive shards; returns one manifest entry per shard."""
    entries: list[dict[str, Any]] = []
    for index, start in enumerate(range(0, len(records), samples_per_shard)):
        chunk = records[start:start + samples_per_shard]
        name = shard_name(index)
        tracker.write(folder / f"{name}.tar", tar_bytes(chunk))
        tracker.write(folder / f"{name}.parquet", parquet_bytes(chunk))
        entries.append({
            "tar": f"{folder.name}/{name}.tar", "parquet": f"{folder.name}/{name}.parquet",
            "samples": len(chunk), "first_key": chunk[0].key, "last_key": chunk[-1].key,
        })
    return entries
