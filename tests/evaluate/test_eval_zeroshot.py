"""Zero-shot on a tiny world where the right answer is known, and on a tiny open_clip model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from react_assets.domains.datasets import open_dataset
from react_assets.domains.spec import DatasetSpec
from react_assets.evaluate.metrics import compute_metric
from react_assets.evaluate.zeroshot import (
    encode_dataset,
    encode_dataset_towers,
    evaluate_zeroshot,
    zeroshot_classifier,
    zeroshot_logits,
)
from react_assets.models import hardware

COLORS = ["red", "green", "blue"]
TEMPLATES = ["a photo of a {} thing.", "a {} object."]


class ColorTokenizer:
    """Token = (color index, template index) of each text."""

    def __call__(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            color = next(i for i, c in enumerate(COLORS) if c in text.split())
            template = 0 if text.startswith("a photo") else 1
            rows.append([color, template])
        return torch.tensor(rows, dtype=torch.int64)


class ColorModel(torch.nn.Module):
    """Image feature = mean RGB (+ a zero 4th dim); text feature = one-hot color (+ template)."""

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        rgb = images.mean(dim=(2, 3))                                  # (B, 3)
        return torch.cat([rgb, torch.zeros(len(rgb), 1)], dim=1)       # (B, 4)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        color = F.one_hot(tokens[:, 0], 4).float()
        return color + 2.0 * tokens[:, 1:2].float() * F.one_hot(torch.tensor(3), 4).float()


def to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 255.0


def color_world(root: Path) -> Path:
    """Two images per color; one 'blue' image is purple-red, so the model calls it red."""
    pixels = {"red": [(250, 0, 0), (200, 30, 20)], "green": [(0, 240, 0), (20, 180, 40)],
              "blue": [(0, 10, 250), (200, 0, 150)]}
    for i, color in enumerate(COLORS):
        for j, rgb in enumerate(pixels[color]):
            path = root / f"{i:03d}" / f"{j}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (6, 6), rgb).save(path)
    (root / "classes.txt").write_text("\n".join(COLORS) + "\n")
    return root


def test_classifier_averages_normalised_templates():
    w = zeroshot_classifier(ColorModel(), ColorTokenizer(), COLORS, TEMPLATES, batch_size=4)
    assert w.shape == (4, 3)
    # template 0 -> e_c ; template 1 -> (e_c + 2 e_3)/sqrt(5); mean, then re-normalise
    a, b = (1 + 1 / math.sqrt(5)) / 2, (2 / math.sqrt(5)) / 2
    norm = math.hypot(a, b)
    for c in range(3):
        expected = torch.zeros(4)
        expected[c], expected[3] = a / norm, b / norm
        assert torch.allclose(w[:, c], expected, atol=1e-6)
    logits = zeroshot_logits(torch.tensor([[2.0, 0.0, 0.0, 0.0]]), w)
    assert logits[0, 0].item() == pytest.approx(100 * a / norm, rel=1e-5)


def test_known_answer_on_a_color_world(tmp_path):
    spec = DatasetSpec("colors", color_world(tmp_path / "colors"), "imagefolder", "accuracy")
    result = evaluate_zeroshot(ColorModel(), ColorTokenizer(), to_tensor, spec, COLORS, TEMPLATES,
                               "accuracy", batch_size=4)
    assert result.n_samples == 6
    assert result.value == pytest.approx(5 / 6) and result.top1 == pytest.approx(5 / 6)
    assert result.top5 == 1.0
    assert result.per_class == (1.0, 1.0, 0.5)
    assert result.mean_per_class == pytest.approx((1 + 1 + 0.5) / 3)
    [pair] = result.confused_pairs
    assert (pair.true, pair.predicted, pair.count, pair.fraction) == ("blue", "red", 1, 0.5)
    assert result.to_dict()["confused_pairs"][0]["predicted"] == "red"
    mpc = evaluate_zeroshot(ColorModel(), ColorTokenizer(), to_tensor, spec, COLORS, TEMPLATES,
                            "mean-per-class", batch_size=4)
    assert mpc.value == pytest.approx(2.5 / 3)
    # a cached classifier with the columns swapped: red and green images swap predictions
    w = zeroshot_classifier(ColorModel(), ColorTokenizer(), COLORS, TEMPLATES)[:, [1, 0, 2]]
    swapped = evaluate_zeroshot(ColorModel(), None, to_tensor, spec, COLORS, TEMPLATES,
                                "accuracy", classifier=w)
    assert swapped.per_class == (0.0, 0.0, 0.5)


class ShiftedColorModel(ColorModel):
    """Another image tower: ColorModel's features plus a trainable shift (1 at init)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = torch.nn.Parameter(torch.ones(()))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return super().encode_image(images) + self.shift


def test_several_towers_encode_a_dataset_decoding_each_image_once(tmp_path):
    spec = DatasetSpec("colors", color_world(tmp_path / "colors"), "imagefolder", "accuracy")
    decoded = []

    def counting(image):
        decoded.append(1)
        return to_tensor(image)

    data = open_dataset(spec, COLORS, counting)
    [plain, shifted], labels = encode_dataset_towers([ColorModel(), ShiftedColorModel()], data,
                                                     batch_size=4)
    assert len(decoded) == 6
    alone, alone_labels = encode_dataset(ColorModel(), open_dataset(spec, COLORS, to_tensor))
    assert torch.equal(plain, alone) and torch.equal(labels, alone_labels)
    assert torch.equal(shifted, alone + 1.0)
    assert not shifted.requires_grad  # features, not a graph: callers take .numpy()


def test_multilabel_value_matches_metric_on_softmax(tmp_path):
    root = tmp_path / "voc"
    root.mkdir()
    lines = []
    for i, rgb in enumerate([(250, 0, 0), (200, 0, 160), (0, 250, 0), (0, 0, 250)]):
        Image.new("RGB", (4, 4), rgb).save(root / f"{i}.png")
        lines.append(f"{i}.png " + ["0", "0,2", "1", "2"][i])
    (root / "test.txt").write_text("\n".join(lines) + "\n")
    spec = DatasetSpec("voc", root, "vision-datasets", "11point_mAP")
    result = evaluate_zeroshot(ColorModel(), ColorTokenizer(), to_tensor, spec, COLORS, TEMPLATES,
                               "11point_mAP")
    assert result.top1 is None and result.confused_pairs == ()
    # every class's positives outrank its negatives -> AP 1 for each class
    assert result.value == pytest.approx(1.0) and result.per_class == (1.0, 1.0, 1.0)


TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def test_tiny_open_clip_model_matches_a_manual_computation(tmp_path, monkeypatch):
    # the library's "auto" precision as on a CPU without bf16 units: float32, like the manual
    # computation it is compared with at 1e-5
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda flags=None: False)
    config = tmp_path / "react-eval-tiny.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("react-eval-tiny")
    tokenizer = open_clip.get_tokenizer("react-eval-tiny")
    model.train()
    spec = DatasetSpec("colors", color_world(tmp_path / "colors"), "imagefolder", "accuracy")
    result = evaluate_zeroshot(model, tokenizer, preprocess, spec, COLORS, TEMPLATES, "accuracy",
                               batch_size=4)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        columns = []
        for name in COLORS:
            emb = model.encode_text(tokenizer([t.format(name) for t in TEMPLATES]))
            columns.append(F.normalize(F.normalize(emb, dim=-1).mean(0), dim=0))
        w = torch.stack(columns, dim=1)
        ds = open_dataset(spec, COLORS, preprocess)
        images = torch.stack([ds[i][0] for i in range(len(ds))])
        labels = np.array([int(ds[i][1]) for i in range(len(ds))])
        probs = (100 * F.normalize(model.encode_image(images), dim=-1) @ w).softmax(-1).numpy()
    w_lib = zeroshot_classifier(model, tokenizer, COLORS, TEMPLATES, batch_size=3)
    assert w_lib.shape == (16, 3)
    assert torch.allclose(w_lib.norm(dim=0), torch.ones(3), atol=1e-5)
    assert torch.allclose(w_lib, w, atol=1e-5)
    assert result.value == pytest.approx(compute_metric("accuracy", probs, labels))
    assert result.n_samples == 6 and len(result.per_class) == 3


def test_bad_templates_and_metric_are_rejected():
    with pytest.raises(ValueError, match="exactly one"):
        zeroshot_classifier(ColorModel(), ColorTokenizer(), COLORS, ["no slot"])
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        evaluate_zeroshot(ColorModel(), ColorTokenizer(), None, [], COLORS, TEMPLATES, "f1")
