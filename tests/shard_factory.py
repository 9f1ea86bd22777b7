"""Writes small webdataset tar shards, good and deliberately broken, for tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from PIL import Image


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def add_member(archive: tarfile.TarFile, name: str, data: bytes, *, kind: bytes = tarfile.REGTYPE,
               linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.type = kind
    info.linkname = linkname
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write_shard(path: Path, samples: list[dict]) -> Path:
    """Each sample: {"key", "image": bytes|None, "ext", "caption": bytes|str|None, "json": dict|None}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as archive:
        for sample in samples:
            key = sample["key"]
            if sample.get("image") is not None:
                add_member(archive, f"{key}.{sample.get('ext', 'png')}", sample["image"])
            caption = sample.get("caption")
            if caption is not None:
                data = caption.encode() if isinstance(caption, str) else caption
                add_member(archive, f"{key}.txt", data)
            if sample.get("json") is not None:
                add_member(archive, f"{key}.json", json.dumps(sample["json"]).encode())
    return path


def good_samples(n: int, source: str = "test", start: int = 0) -> list[dict]:
    return [
        {"key": f"{i:09d}", "image": png_bytes((i * 7 % 255, 40, 90)), "caption": f"a red square {i}",
         "json": {"source": source}}
        for i in range(start, start + n)
    ]
