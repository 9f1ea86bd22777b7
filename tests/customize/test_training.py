"""The contrastive training loop: loss goes down, recipe details, caching, resume-after-kill."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.train import TrainConfig, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
    "purple": (140, 30, 160),
    "orange": (250, 140, 20),
}


def _png(rgb: tuple[int, int, int], rng: np.random.Generator, size: int = 40) -> bytes:
    pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world() -> tuple[list[bytes], list[str]]:
    """A tiny synthetic image-text world: noisy colour patches captioned with their colour."""
    rng = np.random.default_rng(0)
    images, captions = [], []
    for _ in range(4):
        for name, rgb in COLORS.items():
            images.append(_png(rgb, rng))
            captions.append(f"a photo of something {name}")
    return images, captions


def _model(variant: str = "gated-image", k: int = 2):
    bundle = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=0))
    return bundle, customize_model(
        bundle.model, CustomizationConfig(variant=variant, num_gated_blocks=k)
    )


def _config(**overrides) -> TrainConfig:
    values = dict(
        epochs=4,
        batch_size=8,
        lr=2e-3,
        warmup_steps=2,
        num_workers=0,
        log_every=1,
        checkpoint_every=4,
        seed=7,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_training_lowers_the_loss_and_logs(world, tmp_path: Path) -> None:
    images, captions = world
    bundle, model = _model("full")
    logged = []
    result = train_contrastive(
        model,
        images,
        captions,
        bundle.tokenizer,
        bundle.preprocess_train,
        _config(epochs=6),
        tmp_path,
        on_log=lambda *a: logged.append(a),
    )
    assert result.steps == 24 and len(result.losses) == 24 and len(logged) == 24
    assert logged[0][0] == 1 and logged[-1][0] == 24
    assert np.mean(result.losses[-4:]) < 0.8 * np.mean(result.losses[:4])
    assert (tmp_path / "last.pt").is_file()
    assert result.samples_per_s > 0


def test_gated_image_training_moves_only_gates_and_lowers_loss(world) -> None:
    images, captions = world
    bundle, model = _model("gated-image", k=2)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    result = train_contrastive(
        model,
        images,
        captions,
        bundle.tokenizer,
        bundle.preprocess_train,
        _config(epochs=6, lr=5e-3),
    )
    assert np.mean(result.losses[-4:]) < np.mean(result.losses[:4])
    assert set(result.gate_values) == {
        f"visual.transformer.resblocks.{i}.gated_attn_block.{a}"
        for i in (0, 1)
        for a in ("alpha_attn", "alpha_dense")
    }
    assert all(v != 0.0 for v in result.gate_values.values())
    params = dict(model.named_parameters())
    assert all(torch.equal(params[n], t) for n, t in frozen.items())


def test_recipe_schedule_and_weight_decay_groups(world) -> None:
    images, captions = world
    bundle, model = _model("gated-image", k=1)
    config = _config(epochs=2, warmup_steps=3, lr=1e-3)
    result = train_contrastive(
        model, images, captions, bundle.tokenizer, bundle.preprocess_train, config
    )
    total = 8
    expected = [
        1e-3 * (s + 1) / 3 if s < 3 else 1e-3 * 0.5 * (1 + np.cos(np.pi * (s - 3) / (total - 3)))
        for s in range(total)
    ]
    np.testing.assert_allclose(result.lrs, expected, rtol=1e-6)
    defaults = TrainConfig()
    assert (defaults.betas, defaults.eps, defaults.weight_decay, defaults.lr) == (
        (0.9, 0.98),
        1e-6,
        0.1,
        5e-4,
    )
    from react_assets.customize.optim import build_optimizer

    optimizer = build_optimizer(model, lr=1e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(decay["params"]) + len(no_decay["params"]) == len(trainable)


def test_cached_text_features_match_on_the_fly_encoding(world, tmp_path: Path) -> None:
    images, captions = world
    runs = []
    for cache in (True, False):
        bundle, model = _model("gated-image", k=1)
        runs.append(
            train_contrastive(
                model,
                images,
                captions,
                bundle.tokenizer,
                bundle.preprocess_train,
                _config(epochs=1, cache_text_features=cache, amp="off"),  # float32 both
                tmp_path / str(cache),
            )
        )
    # Step 1 sees identical weights, so the losses agree to float precision; afterwards Adam turns
    # float-level differences of the two encodings into small, growing weight differences.
    assert runs[0].losses[0] == pytest.approx(runs[1].losses[0], rel=1e-6)
    np.testing.assert_allclose(runs[0].losses, runs[1].losses, rtol=1e-2)
    assert runs[0].text_cache_s > 0 and runs[1].text_cache_s < runs[0].text_cache_s
    assert len(list((tmp_path / "True").glob("text_features_*.npy"))) == 1
    assert not list((tmp_path / "False").glob("text_features_*.npy"))


def test_precomputed_text_features_replace_encoding_only_when_this_tower_made_them(
        world, tmp_path: Path) -> None:
    from react_assets.customize.data import TextFeatureBank
    from react_assets.models.text import encode_texts
    images, captions = world
    bundle, model = _model("gated-image", k=1)
    encoded = encode_texts(model, bundle.tokenizer, captions, 64).numpy()
    stored = encoded.astype(np.float16)  # as the embedding stage stores them
    bank = TextFeatureBank(model, bundle.tokenizer, captions, 64, torch.device("cpu"), tmp_path,
                           precomputed=stored)
    np.testing.assert_array_equal(bank.features(torch.arange(len(captions))).numpy(),
                                  stored.astype(np.float32))
    assert not list(tmp_path.glob("text_features_*.npy"))  # nothing encoded, nothing cached
    other = np.random.default_rng(0).normal(size=stored.shape).astype(np.float16)
    fallback = TextFeatureBank(model, bundle.tokenizer, captions, 64, torch.device("cpu"),
                               tmp_path, precomputed=other)
    np.testing.assert_allclose(fallback.features(torch.arange(len(captions))).numpy(), encoded,
                               atol=1e-5)
    with pytest.raises(ValueError, match="precomputed text features for"):
        TextFeatureBank(model, bundle.tokenizer, captions, 64, torch.device("cpu"), None,
                        precomputed=stored[:3])


class _Killed(Exception):
    pass


def _kill_at(step_to_die: int):
    def on_log(step: int, loss: float, lr: float) -> None:
        if step == step_to_die:
            raise _Killed(step)

    return on_log


@pytest.mark.parametrize(("num_workers", "pixel_cache"), [(0, True), (0, False), (1, False)])
def test_resume_after_kill_gives_identical_weights(world, tmp_path: Path, num_workers: int,
                                                   pixel_cache: bool) -> None:
    images, captions = world
    config = _config(epochs=3, checkpoint_every=4, num_workers=num_workers,  # 12 steps
                     pixel_cache=pixel_cache)
    bundle, model = _model("gated-image", k=2)
    straight = train_contrastive(
        model,
        images,
        captions,
        bundle.tokenizer,
        bundle.preprocess_train,
        config,
        tmp_path / "straight",
    )
    bundle_b, model_b = _model("gated-image", k=2)
    with pytest.raises(_Killed):  # dies after step 6: the last checkpoint is step 4
        train_contrastive(
            model_b,
            images,
            captions,
            bundle_b.tokenizer,
            bundle_b.preprocess_train,
            config,
            tmp_path / "killed",
            on_log=_kill_at(6),
        )
    bundle_c, model_c = _model("gated-image", k=2)  # a fresh process would rebuild the model
    resumed = train_contrastive(
        model_c,
        images,
        captions,
        bundle_c.tokenizer,
        bundle_c.preprocess_train,
        config,
        tmp_path / "killed",
    )
    assert resumed.start_step == 4 and resumed.steps == straight.steps == 12
    final, final_c = dict(model.named_parameters()), dict(model_c.named_parameters())
    for name, param in final.items():
        assert torch.equal(param, final_c[name]), name
    assert resumed.losses == straight.losses
    with pytest.raises(ValueError, match="another TrainConfig"):
        train_contrastive(
            model_c,
            images,
            captions,
            bundle_c.tokenizer,
            bundle_c.preprocess_train,
            _config(epochs=3, checkpoint_every=4, lr=1e-4, pixel_cache=pixel_cache),
            tmp_path / "killed",
        )


def test_bad_inputs_fail_loudly(world) -> None:
    images, captions = world
    bundle, model = _model("gated-image", k=1)
    with pytest.raises(ValueError, match="align"):
        train_contrastive(
            model, images, captions[:-1], bundle.tokenizer, bundle.preprocess_train, _config()
        )
    broken = list(images)
    broken[5] = b"not an image"
    with pytest.raises(ValueError, match="training image 5"):
        train_contrastive(
            model,
            broken,
            captions,
            bundle.tokenizer,
            bundle.preprocess_train,
            _config(epochs=1, batch_size=32),
        )
