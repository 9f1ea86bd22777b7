"""Readers on small temp folders in each layout, and the error for each broken folder."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from react_assets.domains.datasets import (
    DatasetLayoutError,
    dataset_sha256s,
    iter_dataset_images,
    open_dataset,
)
from react_assets.domains.spec import DatasetSpec


def image_bytes(color: tuple[int, ...], size: int = 8, mode: str = "RGB",
                fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), color).save(buffer, format=fmt)
    return buffer.getvalue()


def png_bytes(color: tuple[int, ...], mode: str = "RGB") -> bytes:
    return image_bytes(color, mode=mode)


def write_png(path: Path, color: tuple[int, ...], mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(color, mode=mode))
    return path


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 255.0


def test_imagefolder_with_class_names(tmp_path):
    write_png(tmp_path / "cat" / "a.png", (255, 0, 0))
    write_png(tmp_path / "cat" / "b.jpg", (250, 0, 0))  # PNG bytes, .jpg name: decoded by content
    write_png(tmp_path / "dog" / "c.png", (0, 0, 255))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    spec = DatasetSpec("pets", tmp_path, "imagefolder")
    ds = open_dataset(spec, ["dog", "cat", "bird"], to_tensor)  # list order decides labels
    assert len(ds) == 3 and ds.classes == ["dog", "cat", "bird"] and not ds.multi_label
    image, label = ds[2]
    assert image.shape == (3, 8, 8) and label.dtype == torch.int64 and int(label) == 0
    assert [int(ds[i][1]) for i in range(3)] == [1, 1, 0]
    assert image[2].mean().item() == pytest.approx(1.0) and image[0].mean().item() == 0.0


def test_imagefolder_with_classes_txt_and_index_folders(tmp_path):
    write_png(tmp_path / "000" / "x.png", (10, 10, 10))
    write_png(tmp_path / "002" / "y.png", (20, 20, 20))
    (tmp_path / "002" / "z.webp").write_bytes(image_bytes((30, 30, 30), fmt="WEBP"))
    (tmp_path / "classes.txt").write_text("t-shirt\ntrouser\npullover\n")
    spec = DatasetSpec("fashion", tmp_path, "demo")
    ds = open_dataset(spec, ["t-shirt", "trouser", "pullover"], None)
    assert [int(ds[i][1]) for i in range(len(ds))] == [0, 2, 2]
    assert [r.path.name for r in ds.refs] == ["x.png", "y.png", "z.webp"]
    assert isinstance(ds[0][0], Image.Image) and ds[0][0].mode == "RGB"


def test_transparent_images_are_composited_on_white(tmp_path):
    write_png(tmp_path / "a" / "clear.png", (255, 0, 0, 0), mode="RGBA")
    spec = DatasetSpec("alpha", tmp_path)
    [(where, image)] = list(iter_dataset_images(spec))
    assert where.endswith("clear.png") and image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)


def write_vision_dataset(root: Path, lines: list[str], n_labels: int = 3) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "test.zip", "w") as archive:
        archive.writestr("img/0.png", png_bytes((255, 0, 0)))
        archive.writestr("img/1.png", png_bytes((0, 255, 0)))
    write_png(root / "loose" / "2.png", (0, 0, 255))
    (root / "test.txt").write_text("\n".join(lines) + "\n")
    (root / "labels.txt").write_text("\n".join(f"c{i}" for i in range(n_labels)) + "\n")


def test_vision_datasets_multiclass_with_zip_members(tmp_path):
    write_vision_dataset(tmp_path, ["test.zip@img/0.png 2", "test.zip@/img/1.png\t0",
                                    "loose/2.png 1"])
    spec = DatasetSpec("vd", tmp_path, "vision-datasets", "accuracy")
    ds = open_dataset(spec, ["a", "b", "c"], to_tensor)
    assert len(ds) == 3 and [int(ds[i][1]) for i in range(3)] == [2, 0, 1]
    assert ds[1][0][1].mean().item() == pytest.approx(1.0)  # the green image from the zip
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned DataLoader worker receives
    assert torch.equal(clone[0][0], ds[0][0]) and int(clone[0][1]) == 2
    hashes = dataset_sha256s(spec)
    expected = {hashlib.sha256(png_bytes(c)).hexdigest()
                for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]}
    assert hashes == expected


def test_vision_datasets_multilabel(tmp_path):
    write_vision_dataset(tmp_path, ["test.zip@img/0.png 0,2", "test.zip@img/1.png 1",
                                    "loose/2.png"])
    spec = DatasetSpec("voc", tmp_path, "vision-datasets", "11point_mAP")
    ds = open_dataset(spec, ["a", "b", "c"], to_tensor)
    assert ds.multi_label
    assert torch.stack([ds[i][1] for i in range(3)]).tolist() == [
        [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("layout", ["imagefolder", "vision-datasets"])
def test_missing_folder(tmp_path, layout):
    spec = DatasetSpec("gone", tmp_path / "nowhere", layout)
    with pytest.raises(DatasetLayoutError, match=r"dataset gone: folder .*nowhere does not exist"):
        open_dataset(spec, ["a"], None)


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"dataset e: folder .* is empty"):
        open_dataset(DatasetSpec("e", tmp_path), ["a"], None)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.md").write_text("x")
    with pytest.raises(DatasetLayoutError, match=r"no images .* in the 1 class folders"):
        open_dataset(DatasetSpec("e", tmp_path), ["a"], None)
    with pytest.raises(DatasetLayoutError, match=r"no index file"):
        open_dataset(DatasetSpec("e", tmp_path, "vision-datasets"), ["a"], None)


def test_label_mismatch_errors(tmp_path):
    write_png(tmp_path / "if" / "cat" / "a.png", (1, 2, 3))
    write_png(tmp_path / "if" / "cow" / "b.png", (1, 2, 3))
    with pytest.raises(DatasetLayoutError, match=r"class folder .*cow is not in the class list"):
        open_dataset(DatasetSpec("f", tmp_path / "if"), ["cat", "dog"], None)

    write_png(tmp_path / "ix" / "000" / "a.png", (1, 2, 3))
    write_png(tmp_path / "ix" / "005" / "b.png", (1, 2, 3))
    (tmp_path / "ix" / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(DatasetLayoutError, match=r"index 5, out of range for 2 classes"):
        open_dataset(DatasetSpec("g", tmp_path / "ix"), ["cat", "dog"], None)
    with pytest.raises(DatasetLayoutError, match=r"classes.txt has 2 classes but the class list"):
        open_dataset(DatasetSpec("g", tmp_path / "ix"), ["cat", "dog", "cow"], None)
    with pytest.raises(DatasetLayoutError, match=r"classes.txt line 2 is 'dog' but class 1 is"):
        open_dataset(DatasetSpec("g", tmp_path / "ix"), ["cat", "cow"], None)

    write_vision_dataset(tmp_path / "vd", ["test.zip@img/0.png 0", "loose/2.png 7"])
    vd = DatasetSpec("vd", tmp_path / "vd", "vision-datasets")
    with pytest.raises(DatasetLayoutError, match=r"loose/2.png: label index 7 is out of range"):
        open_dataset(vd, ["a", "b", "c"], None)
    with pytest.raises(DatasetLayoutError, match=r"labels.txt has 3 classes but the class list"):
        open_dataset(vd, ["a", "b"], None)


def test_vision_datasets_broken_index_lines(tmp_path):
    write_vision_dataset(tmp_path / "a", ["test.zip@img/9.png 0"])
    with pytest.raises(DatasetLayoutError, match=r"test.zip@img/9.png not found in its archive"):
        open_dataset(DatasetSpec("a", tmp_path / "a", "vision-datasets"), ["x", "y", "z"], None)
    write_vision_dataset(tmp_path / "b", ["loose/2.png 0", "loose/2.png zero"])
    with pytest.raises(DatasetLayoutError, match=r"test.txt line 2: labels 'zero'"):
        open_dataset(DatasetSpec("b", tmp_path / "b", "vision-datasets"), ["x", "y", "z"], None)
    write_vision_dataset(tmp_path / "c", ["loose/2.png 0,1"])
    with pytest.raises(DatasetLayoutError, match=r"has 2 labels \[0, 1\]; a multi-class set"):
        open_dataset(DatasetSpec("c", tmp_path / "c", "vision-datasets"), ["x", "y", "z"], None)
    write_vision_dataset(tmp_path / "d", ["missing.png 0"])
    with pytest.raises(DatasetLayoutError, match=r"test.txt line 1: image .*missing.png not found"):
        open_dataset(DatasetSpec("d", tmp_path / "d", "vision-datasets"), ["x", "y", "z"], None)
