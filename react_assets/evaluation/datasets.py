"""Readers for local evaluation datasets; nothing is downloaded.

Two layouts (``DatasetSpec.layout``):

* ``imagefolder`` (and ``demo``, which the demo world writes the same way):
  ``<root>/<class_folder>/*.{png,jpg,jpeg,webp}``. When ``<root>/classes.txt`` exists and every
  class folder is a zero-padded index (``000``, ``001``, ...), folder ``i`` holds class ``i`` and
  line ``i`` of ``classes.txt`` (which must equal the class list) names it. Otherwise folder
  names are class names, each in the class list. A class may have no folder (no samples).
* ``vision-datasets``: Microsoft vision-datasets "iris" image-classification format, as the
  ELEVATER toolkit reads it. The index file is ``<root>`` itself when it is a file, else the first
  of :data:`INDEX_NAMES` found in ``<root>``. Each non-blank line is
  ``<image> <comma-separated zero-based label indices>`` (a tab may separate the two fields; the
  path is everything before the last whitespace run). ``<image>`` is a path relative to the index
  file's folder, or ``<archive>.zip@<member>`` for a member of a zip archive there (a leading
  ``/`` of the member is ignored). ``labels.txt`` / ``labelmap.txt`` beside the index, when
  present, must have one line per class. Multi-label when the metric is ``11point_mAP`` (labels
  become multi-hot float vectors, an image may have no label); otherwise every line has exactly
  one label.

Images are decoded with Pillow and turned into RGB; transparent images are composited on white.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from react_assets.domains import DatasetSpec

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
INDEX_NAMES = ("test.txt", "test_images.txt", "test_ic.txt", "index.txt", "images.txt")
LABELMAP_NAMES = ("labels.txt", "labelmap.txt")
MULTI_LABEL_METRICS = ("11point_mAP",)


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
    """Decode image bytes into RGB (transparency composited on white); errors name ``where``."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise DatasetLayoutError(f"{where}: cannot decode image: {err}") from err
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


class LabeledImageDataset(Dataset):
    """A torch Dataset of ``(preprocess(image), label)``.

    ``label`` is a 0-d int64 tensor (multi-class) or a float32 multi-hot vector of length
    ``len(classes)`` (multi-label). ``classes`` is the class list, ``refs`` the image locations.
    """

    def __init__(self, name: str, refs: Sequence[ImageRef], labels: Sequence[Any],
                 classes: Sequence[str], preprocess: Callable[[Image.Image], Any] | None,
                 multi_label: bool) -> None:
        self.name = name
        self.refs = list(refs)
        self.labels = list(labels)
        self.classes = list(classes)
        self.preprocess = preprocess
        self.multi_label = multi_label
        self.reader = ImageReader()

    def __len__(self) -> int:
        return len(self.refs)

    def target(self, index: int) -> torch.Tensor:
        """The label tensor of sample ``index`` without decoding its image."""
        if self.multi_label:
            hot = torch.zeros(len(self.classes), dtype=torch.float32)
            hot[list(self.labels[index])] = 1.0
            return hot
        return torch.tensor(int(self.labels[index]), dtype=torch.int64)

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        ref = self.refs[index]
        image = load_rgb(self.reader.read(ref), f"{self.name} sample {index} ({ref})")
        return (self.preprocess(image) if self.preprocess else image), self.target(index)


def open_dataset(spec: DatasetSpec, classes: Sequence[str],
                 preprocess: Callable[[Image.Image], Any] | None) -> LabeledImageDataset:
    """Open the local dataset ``spec`` against ``classes`` (then ``dataset.classes``)."""
    refs, labels, multi_label = _index(spec, classes)
    logger.info("opened %s (%s): %d images, %d classes%s", spec.name, spec.layout, len(refs),
                len(classes), ", multi-label" if multi_label else "")
    return LabeledImageDataset(spec.name, refs, labels, classes, preprocess, multi_label)


def dataset_sha256s(spec: DatasetSpec) -> set[str]:
    """SHA-256 hex digests of the raw bytes of every image of ``spec`` (for decontamination)."""
    reader = ImageReader()
    return {hashlib.sha256(reader.read(ref)).hexdigest() for ref in _image_refs(spec)}


def iter_dataset_images(spec: DatasetSpec) -> Iterator[tuple[str, Image.Image]]:
    """Yield ``(location, RGB image)`` for every image of ``spec``, in reader order."""
    reader = ImageReader()
    for ref in _image_refs(spec):
        yield str(ref), load_rgb(reader.read(ref), f"{spec.name} ({ref})")


def _image_refs(spec: DatasetSpec) -> list[ImageRef]:
    if spec.layout in ("imagefolder", "demo"):
        return [ref for ref, _ in _scan_imagefolder(spec)]
    if spec.layout == "vision-datasets":
        return [ref for ref, _ in _parse_index(_find_index(spec), spec)]
    raise DatasetLayoutError(f"dataset {spec.name}: unknown layout {spec.layout!r}")


def _index(spec: DatasetSpec, classes: Sequence[str]) -> tuple[list[ImageRef], list[Any], bool]:
    if not classes:
        raise DatasetLayoutError(f"dataset {spec.name}: the class list is empty")
    if spec.layout in ("imagefolder", "demo"):
        refs, labels = _imagefolder_labels(spec, classes)
        return refs, labels, False
    if spec.layout == "vision-datasets":
        return _vision_datasets_labels(spec, classes)
    raise DatasetLayoutError(f"dataset {spec.name}: unknown layout {spec.layout!r}")


def _require_folder(spec: DatasetSpec) -> Path:
    root = Path(spec.path)
    if not root.exists():
        raise DatasetLayoutError(f"dataset {spec.name}: folder {root} does not exist")
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset {spec.name}: {root} is not a folder")
    return root


def _scan_imagefolder(spec: DatasetSpec) -> list[tuple[ImageRef, str]]:
    """Every (image, class folder name) pair, sorted by folder then file name."""
    root = _require_folder(spec)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetLayoutError(f"dataset {spec.name}: folder {root} is empty (no class folders)")
    items = [
        (ImageRef(f), folder.name)
        for folder in folders
        for f in sorted(folder.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise DatasetLayoutError(
            f"dataset {spec.name}: no images ({', '.join(IMAGE_SUFFIXES)}) in the "
            f"{len(folders)} class folders of {root}")
    return items


def _imagefolder_labels(spec: DatasetSpec, classes: Sequence[str]
                        ) -> tuple[list[ImageRef], list[int]]:
    items = _scan_imagefolder(spec)
    mapping = _folder_classes(spec, sorted({name for _, name in items}), classes)
    return [ref for ref, _ in items], [mapping[name] for _, name in items]


def _folder_classes(spec: DatasetSpec, folder_names: list[str], classes: Sequence[str]
                    ) -> dict[str, int]:
    """Class index of every class folder that holds images."""
    root = Path(spec.path)
    classes_txt = root / "classes.txt"
    if classes_txt.is_file() and all(name.isdigit() for name in folder_names):
        names = classes_txt.read_text(encoding="utf-8").splitlines()
        names = [n.strip() for n in names if n.strip()]
        if len(names) != len(classes):
            raise DatasetLayoutError(f"dataset {spec.name}: {classes_txt} has {len(names)} classes "
                                     f"but the class list has {len(classes)}")
        for i, (found, wanted) in enumerate(zip(names, classes, strict=True)):
            if found != wanted:
                raise DatasetLayoutError(f"dataset {spec.name}: {classes_txt} line {i + 1} is "
                                         f"{found!r} but class {i} is {wanted!r}")
        for name in folder_names:
            if int(name) >= len(classes):
                raise DatasetLayoutError(f"dataset {spec.name}: class folder {root / name} is "
                                         f"index {int(name)}, out of range for {len(classes)} "
                                         "classes")
        return {name: int(name) for name in folder_names}
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in folder_names if name not in index]
    if unknown:
        raise DatasetLayoutError(f"dataset {spec.name}: class folder {root / unknown[0]} is "
                                 f"not in the class list ({len(unknown)} unknown folders)")
    return {name: index[name] for name in folder_names}


def _find_index(spec: DatasetSpec) -> Path:
    root = Path(spec.path)
    if root.is_file():
        return root
    root = _require_folder(spec)
    for name in INDEX_NAMES:
        if (root / name).is_file():
            return root / name
    raise DatasetLayoutError(f"dataset {spec.name}: no index file ({', '.join(INDEX_NAMES)}) "
                             f"in {root}")


def _parse_index(index: Path, spec: DatasetSpec) -> list[tuple[ImageRef, list[int]]]:
    """(image, label indices) per line of a vision-datasets index file."""
    entries = []
    lines = index.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip().split("\t") if "\t" in line else line.rstrip().rsplit(None, 1)
        if len(fields) == 1 and spec.metric in MULTI_LABEL_METRICS:
            fields.append("")
        if len(fields) != 2 or not fields[0].strip():
            raise DatasetLayoutError(f"{index} line {number}: expected '<image> <labels>', "
                                     f"got {line!r}")
        try:
            labels = [int(x) for x in fields[1].split(",") if x.strip()]
        except ValueError as err:
            raise DatasetLayoutError(f"{index} line {number}: labels {fields[1]!r} are not "
                                     f"comma-separated integers") from err
        entries.append((_image_ref(index.parent, fields[0].strip(), index, number), labels))
    if not entries:
        raise DatasetLayoutError(f"dataset {spec.name}: index file {index} lists no images")
    return entries


def _image_ref(base: Path, text: str, index: Path, number: int) -> ImageRef:
    archive, sep, member = text.partition("@")
    if sep and archive.lower().endswith(".zip"):
        path = base / archive
        if not path.is_file():
            raise DatasetLayoutError(f"{index} line {number}: archive {path} not found")
        return ImageRef(path, member.lstrip("/"))
    path = base / text
    if not path.is_file():
        raise DatasetLayoutError(f"{index} line {number}: image {path} not found")
    return ImageRef(path)


def _vision_datasets_labels(spec: DatasetSpec, classes: Sequence[str]
                            ) -> tuple[list[ImageRef], list[Any], bool]:
    index = _find_index(spec)
    for name in LABELMAP_NAMES:
        labelmap = index.parent / name
        if labelmap.is_file():
            count = len([n for n in labelmap.read_text(encoding="utf-8").splitlines() if n.strip()])
            if count != len(classes):
                raise DatasetLayoutError(f"dataset {spec.name}: {labelmap} has {count} classes but "
                                         f"the class list has {len(classes)}")
            break
    multi_label = spec.metric in MULTI_LABEL_METRICS
    entries = _parse_index(index, spec)
    _check_members(entries, index)
    for ref, labels in entries:
        bad = [x for x in labels if not 0 <= x < len(classes)]
        if bad:
            raise DatasetLayoutError(f"{index}: image {ref}: label index {bad[0]} is out of range "
                                     f"for {len(classes)} classes")
        if not multi_label and len(labels) != 1:
            raise DatasetLayoutError(f"{index}: image {ref} has {len(labels)} labels {labels}; a "
                                     f"multi-class set ({spec.metric}) needs exactly one")
    labels_out: list[Any] = [tuple(ls) if multi_label else ls[0] for _, ls in entries]
    return [ref for ref, _ in entries], labels_out, multi_label


def _check_members(entries: list[tuple[ImageRef, list[int]]], index: Path) -> None:
    """Fail early when an index names a zip member that its archive does not hold."""
    archives: dict[Path, set[str]] = {}
    for ref, _ in entries:
        if ref.member is None:
            continue
        if ref.path not in archives:
            try:
                with zipfile.ZipFile(ref.path) as archive:
                    archives[ref.path] = set(archive.namelist())
            except zipfile.BadZipFile as err:
                raise DatasetLayoutError(f"{index}: {ref.path} is not a zip archive: "
                                         f"{err}") from err
        if ref.member not in archives[ref.path]:
            raise DatasetLayoutError(f"{index}: image {ref} not found in its archive")
