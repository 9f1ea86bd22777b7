"""Readers for local evaluation datasets; nothing is downloaded.

Two layouts (``DatasetSpec.layout``):

* ``imagefolder`` (and ``demo``, which the demo world writes the same way):
  ``<root>/<class_folder>/*.{png,jpg,jpeg,webp}``. When ``<root>/classes.txt`` exists and every
  class folder is a zero-padded index (``000``, ``001``, ...), folder ``i`` holds class ``i`` and
  line ``i`` of ``classes.txt`` (which must equal the class list) names it. Otherwise folder
  names are class names, each in the class list. A class may have no folder (no samples).
* ``vision-datasets``: Microsoft vision-datasets "iris" image-classification format, as the
  ELEVATER toolkit reads it (:mod:`react_assets.domains.vision_datasets`). The index file is
  ``<root>`` itself when it is a file, else the first of that module's ``INDEX_NAMES`` found in
  ``<root>``. Each non-blank line is
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
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from react_assets.domains.images import (
    DatasetLayoutError,
    ImageReader,
    ImageRef,
    load_rgb,
    require_folder,
)
from react_assets.domains.spec import DatasetSpec
from react_assets.domains.vision_datasets import find_index, parse_index, vision_datasets_labels

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


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
        return [ref for ref, _ in parse_index(find_index(spec), spec)]
    raise DatasetLayoutError(f"dataset {spec.name}: unknown layout {spec.layout!r}")


def _index(spec: DatasetSpec, classes: Sequence[str]) -> tuple[list[ImageRef], list[Any], bool]:
    if not classes:
        raise DatasetLayoutError(f"dataset {spec.name}: the class list is empty")
    if spec.layout in ("imagefolder", "demo"):
        refs, labels = _imagefolder_labels(spec, classes)
        return refs, labels, False
    if spec.layout == "vision-datasets":
        return vision_datasets_labels(spec, classes)
    raise DatasetLayoutError(f"dataset {spec.name}: unknown layout {spec.layout!r}")


def _scan_imagefolder(spec: DatasetSpec) -> list[tuple[ImageRef, str]]:
    """Every (image, class folder name) pair, sorted by folder then file name."""
    root = require_folder(spec)
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
