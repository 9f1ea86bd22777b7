"""The vision-datasets ("iris") layout that ELEVATER reads: index file, label map, zip members."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from react_assets.domains.images import DatasetLayoutError, ImageRef, require_folder
from react_assets.domains.spec import DatasetSpec

INDEX_NAMES = ("test.txt", "test_images.txt", "test_ic.txt", "index.txt", "images.txt")
LABELMAP_NAMES = ("labels.txt", "labelmap.txt")
MULTI_LABEL_METRICS = ("11point_mAP",)


def find_index(spec: DatasetSpec) -> Path:
    """The index file of ``spec``: its path itself, or the first of :data:`INDEX_NAMES` in it."""
    root = Path(spec.path)
    if root.is_file():
        return root
    root = require_folder(spec)
    for name in INDEX_NAMES:
        if (root / name).is_file():
            return root / name
    raise DatasetLayoutError(f"dataset {spec.name}: no index file ({', '.join(INDEX_NAMES)}) "
                             f"in {root}")


def parse_index(index: Path, spec: DatasetSpec) -> list[tuple[ImageRef, list[int]]]:
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


def vision_datasets_labels(spec: DatasetSpec, classes: Sequence[str]
                           ) -> tuple[list[ImageRef], list[Any], bool]:
    """Image locations, labels (an index, or a tuple of them when multi-label) and multi-label."""
    index = find_index(spec)
    for name in LABELMAP_NAMES:
        labelmap = index.parent / name
        if labelmap.is_file():
            count = len([n for n in labelmap.read_text(encoding="utf-8").splitlines() if n.strip()])
            if count != len(classes):
                raise DatasetLayoutError(f"dataset {spec.name}: {labelmap} has {count} classes but "
                                         f"the class list has {len(classes)}")
            break
    multi_label = spec.metric in MULTI_LABEL_METRICS
    entries = parse_index(index, spec)
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
