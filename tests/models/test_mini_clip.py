"""The demo mini-CLIP: MiniLM text tower offline, LiT pre-training, local-dir output."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.pretrain import pretrain_mini_clip
from react_assets.customize.train import TrainConfig
from react_assets.models.caption_features import CAPTION_FEATURES_FILE, CaptionFeatures
from react_assets.models.factory import BaseModelConfig, create_base_model, local_model_dir
from react_assets.models.mini_clip import MINI_CLIP_ARCH, MiniClipConfig, minilm_folder

SMALL = MiniClipConfig(image_size=32, patch_size=8, width=64, layers=2, heads=2)
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def _world(per_color: int = 4) -> tuple[list[bytes], list[str]]:
    rng = np.random.default_rng(1)
    images, captions = [], []
    for _ in range(per_color):
        for name, rgb in COLORS.items():
            pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(
                np.uint8
            )
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG" if name == "red" else "PNG")
            images.append(buffer.getvalue())
            captions.append(f"a {name} picture")
    return images, captions


def test_default_mini_clip_has_the_minilm_text_tower() -> None:
    from transformers import AutoModel, AutoTokenizer

    bundle = create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH))
    assert MINI_CLIP_ARCH in open_clip.list_models() and bundle.embed_dim == 384
    visual = bundle.model.visual
    shape = MiniClipConfig()
    assert (visual.image_size, len(visual.transformer.resblocks), visual.transformer.width) == (
        (shape.image_size, shape.image_size),
        shape.layers,
        shape.width,
    )
    texts = ["a photo of a red apple", "clip art of a tree"]
    with torch.no_grad():
        ours = bundle.model.encode_text(bundle.tokenizer(texts))
        folder = minilm_folder()
        hf_tokens = AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")
        hidden = AutoModel.from_pretrained(folder)(**hf_tokens).last_hidden_state
        mask = hf_tokens["attention_mask"].unsqueeze(-1)
        reference = (hidden * mask).sum(1) / mask.sum(1)  # sentence-transformers mean pooling
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="text transformer"):
        customize_model(bundle.model, CustomizationConfig(num_gated_blocks=1, gate_text_tower=True))


def test_pretrain_lowers_loss_and_writes_a_loadable_local_dir(tmp_path: Path) -> None:
    images, captions = _world()
    config = TrainConfig(
        epochs=12,
        batch_size=12,
        lr=3e-3,
        warmup_steps=2,
        num_workers=0,
        log_every=4,
        checkpoint_every=100,
        seed=0,
    )
    result = pretrain_mini_clip(images, captions, tmp_path / "mini", config, mini_config=SMALL)
    losses = result.train_result.losses
    assert len(losses) == 24
    assert np.mean(losses[-4:]) < 0.85 * np.mean(losses[:4])
    assert result.base_config.arch.startswith("local-dir:")
    loaded = create_base_model(result.base_config)
    fresh = create_base_model(BaseModelConfig(arch=SMALL.arch))
    # the captions were encoded once; their features are kept with the model, for the
    # embedding stage, and are what this (locked) text tower gives
    kept = CaptionFeatures.load(local_model_dir(result.base_config) / CAPTION_FEATURES_FILE)
    assert kept is not None and set(kept.captions) == set(captions)
    assert kept.made_by(loaded.model, loaded.tokenizer)
    tiny = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=0))
    assert not kept.made_by(tiny.model, tiny.tokenizer)
    trained, base = loaded.model.state_dict(), fresh.model.state_dict()
    assert set(trained) == set(base)
    text_keys = [k for k in trained if k.startswith("text.")]
    assert text_keys and all(torch.equal(trained[k], base[k]) for k in text_keys)  # locked
    assert not torch.equal(trained["visual.proj"], base["visual.proj"])
    assert not torch.equal(trained["logit_scale"], base["logit_scale"])
    tokens = loaded.tokenizer(["a red picture"])
    assert tokens.shape == (1, SMALL.context_length)
