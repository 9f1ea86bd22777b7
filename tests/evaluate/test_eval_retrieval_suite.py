"""Retrieval recall@k on a captioned set with known ranks; the ELEVATER suite as domain specs."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from test_eval_zeroshot import ColorModel, ColorTokenizer, to_tensor

from react_assets.domains.datasets import open_dataset
from react_assets.domains.elevater import elevater_domain, list_suite, suite_entry
from react_assets.domains.images import DatasetLayoutError
from react_assets.domains.spec import NAME_PATTERN
from react_assets.evaluate.image_text import encode_captions, evaluate_retrieval


def captioned_world(root):
    images = {"red.png": (255, 0, 0), "green.png": (0, 255, 0), "blue.png": (0, 0, 255),
              "purple.png": (200, 0, 150)}
    for name, rgb in images.items():
        Image.new("RGB", (4, 4), rgb).save(root / name)
    pairs = [("red.png", "a photo of a red thing"), ("green.png", "a photo of a green thing"),
             ("green.png", "a photo of a green leaf"), ("blue.png", "a photo of a blue thing"),
             ("purple.png", "a photo of a blue thing")]
    (root / "pairs.jsonl").write_text(
        "".join(json.dumps({"image": i, "caption": c}) + "\n" for i, c in pairs))
    return root


def test_retrieval_recalls_known_ranks(tmp_path):
    result = evaluate_retrieval(ColorModel(), ColorTokenizer(), to_tensor,
                                captioned_world(tmp_path), batch_size=2)
    # purple's own caption ranks 3rd (after "red", then the tied blue caption of blue.png)
    assert result["image_to_text_R@1"] == pytest.approx(3 / 4)
    assert result["image_to_text_R@5"] == 1.0
    # the purple caption "blue" finds blue.png first, purple.png second
    assert result["text_to_image_R@1"] == pytest.approx(4 / 5)
    assert result["text_to_image_R@5"] == 1.0 and result["text_to_image_R@10"] == 1.0
    assert set(result) == {f"{d}_R@{k}" for d in ("image_to_text", "text_to_image")
                           for k in (1, 5, 10)}


def test_retrieval_errors_name_the_line(tmp_path):
    with pytest.raises(DatasetLayoutError, match="pairs.jsonl not found"):
        evaluate_retrieval(ColorModel(), ColorTokenizer(), to_tensor, tmp_path)
    (tmp_path / "pairs.jsonl").write_text('{"image": "x.png", "caption": "a red x"}\n')
    with pytest.raises(DatasetLayoutError, match=r"line 1: image .*x.png not found"):
        evaluate_retrieval(ColorModel(), ColorTokenizer(), to_tensor, tmp_path)
    (tmp_path / "pairs.jsonl").write_text('\n{"image": "x.png"}\n')
    with pytest.raises(DatasetLayoutError, match="line 2: expected"):
        evaluate_retrieval(ColorModel(), ColorTokenizer(), to_tensor, tmp_path)


def test_suite_lists_the_twenty_datasets_and_imagenet():
    names = list_suite()
    assert len(names) == 21 and len(list_suite(elevater20_only=True)) == 20
    assert "imagenet-1k" in names and "imagenet-1k" not in list_suite(elevater20_only=True)
    assert all(NAME_PATTERN.match(elevater_domain(n, "/data").name) for n in names)
    assert suite_entry("voc-2007-classification").metric == "11point_mAP"
    assert suite_entry("hateful-memes").metric == "roc_auc"
    assert sum(suite_entry(n).test_images for n in list_suite(True)) > 100_000
    with pytest.raises(KeyError, match="not an ELEVATER suite dataset"):
        suite_entry("coco")


def test_elevater_domain_spec(tmp_path):
    fer = elevater_domain("fer-2013", tmp_path)
    assert fer.classes[3] == "happy" and fer.classes[6] == "surprised"  # first synonym
    assert len(fer.classes) == 7 and len(fer.templates) == 6
    [dataset] = fer.datasets
    assert dataset.path == tmp_path / "fer-2013" and dataset.layout == "vision-datasets"
    assert dataset.metric == "accuracy"
    assert fer.queries()[0] == (0, fer.templates[0].format("angry"))
    cifar = elevater_domain("cifar-10", tmp_path)
    assert len(cifar.classes) == 10 and len(cifar.templates) == 18


def test_suite_domain_opens_a_local_vision_datasets_folder(tmp_path):
    domain = elevater_domain("rendered-sst2", tmp_path)
    root = tmp_path / "rendered-sst2"
    root.mkdir()
    for i in range(2):
        Image.new("RGB", (4, 4), (i * 255, 0, 0)).save(root / f"{i}.png")
    (root / "test.txt").write_text("0.png 1\n1.png 0\n")
    ds = open_dataset(domain.datasets[0], domain.classes, to_tensor)
    assert ds.classes == ["negative", "positive"]
    assert [int(ds[i][1]) for i in range(2)] == [1, 0]
    assert isinstance(ds[0][0], torch.Tensor)


class CountingColorModel(ColorModel):
    """ColorModel counting the captions its text tower encodes."""

    encoded_captions = 0

    def encode_text(self, tokens):
        self.encoded_captions += len(tokens)
        return super().encode_text(tokens)


def test_shared_text_features_give_the_same_recalls_without_encoding_captions(tmp_path):
    root = captioned_world(tmp_path)
    text = encode_captions(ColorModel(), ColorTokenizer(), root, batch_size=2)
    assert text.shape == (5, 4)
    model = CountingColorModel()
    shared = evaluate_retrieval(model, ColorTokenizer(), to_tensor, root, batch_size=2,
                                text_features=text)
    assert model.encoded_captions == 0
    assert shared == evaluate_retrieval(model, ColorTokenizer(), to_tensor, root, batch_size=2)
    assert model.encoded_captions == 5
    with pytest.raises(ValueError, match="4 text features for 5 captions"):
        evaluate_retrieval(model, ColorTokenizer(), to_tensor, root, text_features=text[:4])
