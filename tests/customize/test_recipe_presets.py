"""Recipe presets: the official one builds exactly timm's augmentation and the trainable set of
the REACT paper; the demo one is unchanged."""

from __future__ import annotations

import io
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.auto_augment import RandAugment
from timm.data.random_erasing import RandomErasing
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms as T

from react_assets.customize.data import train_transform
from react_assets.customize.gated import customize_model, trainable_state_dict
from react_assets.customize.recipe import PRESETS, CustomizationRecipe, recipe_preset
from react_assets.customize.saved import load_customized_model, save_customization
from react_assets.customize.train import amp_dtype, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.hardware import cpu_has_native_bf16

TINY = BaseModelConfig(arch="react-tiny", init_seed=0)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RAND_INCREASING_OPS = [
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
    "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
    "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]


def _customized(recipe: CustomizationRecipe, variant: str):
    bundle = create_base_model(TINY)
    return bundle, customize_model(bundle.model, recipe.customization(variant))


def test_the_official_preset_builds_timms_augmentation_exactly():
    bundle, model = _customized(recipe_preset("official"), "gated-image")
    transform = train_transform("official", model, bundle.preprocess_train)
    steps = transform.transforms
    assert [type(t) for t in steps] == [
        RandomResizedCropAndInterpolation, T.RandomHorizontalFlip, RandAugment,
        type(steps[3]), T.Normalize, RandomErasing]  # steps[3]: timm's MaybeToTensor
    crop, flip, rand, _, norm, erase = steps
    assert crop.size == (32, 32) and crop.scale == (0.08, 1.0)
    assert crop.ratio == pytest.approx((3 / 4, 4 / 3)) and crop.interpolation.value == "bicubic"
    assert flip.p == 0.5
    assert rand.num_layers == 2 and [op.name for op in rand.ops] == RAND_INCREASING_OPS
    assert all(op.magnitude == 9 and op.magnitude_std == 0.5 and op.prob == 0.5
               for op in rand.ops)
    # colour jitter 0.4 is asked for, but timm leaves it out when RandAugment is on
    assert not any(isinstance(t, T.ColorJitter) for t in steps)
    assert tuple(norm.mean) == pytest.approx(CLIP_MEAN) and tuple(norm.std) == pytest.approx(
        CLIP_STD)
    assert erase.probability == 0.25 and erase.mode == "pixel" and erase.max_count == 1
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), np.uint8))
    assert transform(image).shape == (3, 32, 32)


def test_the_official_augmentation_survives_its_zero_bit_posterize_draws():
    """RandAugment's magnitude 10 asks Pillow for 0 bits (Pillow 13 raises): a black image."""
    bundle, model = _customized(recipe_preset("official"), "gated-image")
    rand = train_transform("official", model, bundle.preprocess_train).transforms[2]
    posterize = next(op for op in rand.ops if op.name == "PosterizeIncreasing")
    image = Image.new("RGB", (32, 32), (200, 120, 40))
    posterize.op.prob, posterize.op.magnitude, posterize.op.magnitude_std = 1.0, 10, 0
    assert np.asarray(posterize(image)).max() == 0
    torch.manual_seed(0)
    for _ in range(300):  # every op at random magnitudes around 9 never raises
        rand(image)


@pytest.mark.parametrize("variant, lr", [("gated-image", 5e-4), ("locked-text", 5e-5)])
def test_the_official_preset_trains_the_described_set_with_the_logit_scale(variant, lr):
    recipe = recipe_preset("official")
    _, model = _customized(recipe, variant)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    if variant == "gated-image":
        blocks = {n.split(".gated_attn_block.")[0] for n in trainable if "gated_attn_block" in n}
        assert blocks == {"visual.transformer.resblocks.0", "visual.transformer.resblocks.1"}
        assert all("gated_attn_block" in n for n in trainable - {"logit_scale"})
    else:
        assert trainable - {"logit_scale"} == {n for n, _ in model.visual.named_parameters(
            prefix="visual")}
    assert "logit_scale" in trainable and "logit_scale" in trainable_state_dict(
        model, recipe.customization(variant))
    train = recipe.train(variant)
    assert (train.lr, train.warmup_steps, train.amp, train.weight_decay) == (lr, 5000, "on", 0.1)
    assert (train.epochs, train.batch_size) == (32, 4096)
    assert amp_dtype(train.amp, torch.device("cpu")) == torch.bfloat16


def test_the_demo_preset_is_the_default_recipe_light_crop_and_frozen_logit_scale():
    assert recipe_preset("demo") == CustomizationRecipe() and set(PRESETS) == {"demo", "official"}
    bundle, model = _customized(recipe_preset("demo"), "gated-image")
    assert train_transform("open_clip", model, bundle.preprocess_train) is bundle.preprocess_train
    assert not model.logit_scale.requires_grad
    # "auto": bf16 autocast only on a CPU that multiplies bf16 natively
    assert amp_dtype(recipe_preset("demo").amp, torch.device("cpu")) == (
        torch.bfloat16 if cpu_has_native_bf16() else None)
    with pytest.raises(ValueError, match="expected one of"):
        recipe_preset("paper")
    with pytest.raises(ValueError, match="augmentation"):
        CustomizationRecipe(augmentation="heavy")


def _png(rgb, rng) -> bytes:
    pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_an_official_run_trains_and_clamps_the_logit_scale_under_bf16_autocast(tmp_path):
    rng = np.random.default_rng(0)
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
               "white": (245, 245, 245)}
    images = [_png(rgb, rng) for rgb in colours.values() for _ in range(4)]
    captions = [f"something {name}" for name in colours for _ in range(4)]
    recipe = recipe_preset("official")
    bundle, model = _customized(recipe, "gated-image")
    with torch.no_grad():
        model.logit_scale.fill_(math.log(100) - 1e-4)  # one step up must hit the clamp
    config = PRESETS["official"].train("gated-image")
    config = replace(config, epochs=2, batch_size=8, warmup_steps=1, lr=1e-2, num_workers=0)
    transform = train_transform("official", model, bundle.preprocess_train)
    result = train_contrastive(model, images, captions, bundle.tokenizer, transform, config)
    assert result.steps == 4 and all(math.isfinite(v) for v in result.losses)
    moved = float(model.logit_scale.detach())
    assert moved != pytest.approx(math.log(100) - 1e-4, abs=1e-7) and moved <= math.log(100) + 1e-6
    folder = tmp_path / "model"
    save_customization(model, recipe.customization("gated-image"), TINY, folder, name="t")
    reloaded = load_customized_model(folder).model
    assert torch.equal(reloaded.logit_scale, model.logit_scale.detach().cpu())


def test_the_official_augmentation_is_a_function_of_the_sample_seed():
    """timm draws from Python's and numpy's RNGs: the data feed seeds them per sample too."""
    from react_assets.customize.data import ImageDataset

    bundle, model = _customized(recipe_preset("official"), "gated-image")
    transform = train_transform("official", model, bundle.preprocess_train)
    data = ImageDataset([_png((200, 30, 30), np.random.default_rng(1))], transform)
    first, again, other = data[(0, 11)][0], data[(0, 11)][0], data[(0, 12)][0]
    assert torch.equal(first, again) and not torch.equal(first, other)
