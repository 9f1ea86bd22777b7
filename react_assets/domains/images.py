"""Where evaluation images live and how they are read: file or zip member, decoded to RGB."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from react_assets.domains.spec import DatasetSpec
from react_assets.files.images import ImageDecodeError, decode_rgb


class DatasetLayoutError(ValueError):
    """An evaluation dataset on disk does not match its spec; the message says which and where."""


@dataclass(frozen=True)
class ImageRef:
    """Where one image lives: a plain file, or a member of a zip archive."""

    path: Path
    member: str | None = None

    def __str__(self) -> str:
        return f"{self.path}@{self.member}" if self.member is not None else str(self.path)


class ImageReader:
    """Reads raw image bytes, keeping zip archives open; reopens them in a new process.

    A forked DataLoader worker must not share its parent's archive file offsets, so handles are
    tied to the process id, and pickling (spawned workers) drops them.
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._archives: dict[Path, zipfile.ZipFile] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_pid": None, "_archives": {}}

    def read(self, ref: ImageRef) -> bytes:
        """The raw, undecoded bytes of the image at ``ref``."""
        if ref.member is None:
            return ref.path.read_bytes()
        if self._pid != os.getpid():
            self._pid, self._archives = os.getpid(), {}
        if ref.path not in self._archives:
            self._archives[ref.path] = zipfile.ZipFile(ref.path)
        return self._archives[ref.path].read(ref.member)


def load_rgb(data: bytes, where: str) -> Image.Image:
    """Decode image bytes into RGB by ``decode_rgb`` (each mode by its value range, transparency
    composited on white); errors name ``where``."""
    try:
        return decode_rgb(data, where)
    except ImageDecodeError as err:
        raise DatasetLayoutError(str(err)) from err


def require_folder(spec: DatasetSpec) -> Path:
    """The folder of ``spec``; a :class:`DatasetLayoutError` when it is missing or not a folder."""
    root = Path(spec.path)
    if not root.exists():
        raise DatasetLayoutError(f"dataset {spec.name}: folder {root} does not exist")
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset {spec.name}: {root} is not a folder")
    return root
