"""The speed paths: bf16 resolution and accuracy, padding-trimmed text, the decoded-once pixel
cache with tensor augmentation, and the machine description the demo timing records."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from react_assets.customize.pixels import TensorAugment, cached_batches, pixel_cache
from react_assets.customize.train import TrainConfig
from react_assets.models.device import model_autocast
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.hardware import bf16_enabled, cpu_flags, machine_description
from react_assets.models.mini_clip import MINI_CLIP_ARCH
from react_assets.models.text import encode_text, encode_texts, trim_padding


@pytest.fixture(scope="module")
def mini(one_torch_thread):
    return create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH, init_seed=0))


def _png(seed: int, size: int = 40) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size + 3, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_bf16_auto_follows_the_device_and_the_cpu_flags():
    assert bf16_enabled("auto", "cuda")
    assert not bf16_enabled("auto", "cpu", frozenset({"avx2", "fma"}))
    assert bf16_enabled("auto", "cpu", frozenset({"avx2", "avx512_bf16"}))
    assert bf16_enabled("auto", "cpu", frozenset({"amx_bf16"}))
    assert bf16_enabled("on", "cpu", frozenset()) and not bf16_enabled("off", "cuda")
    with pytest.raises(ValueError, match="bf16='fast'"):
        bf16_enabled("fast", "cpu")
    with pytest.raises(ValueError, match="TrainConfig.amp"):
        TrainConfig(amp="yes")


def test_machine_description_records_cores_flags_and_threads():
    info = machine_description()
    assert info["cores"] >= 1 and info["torch_intra_op_threads"] == torch.get_num_threads()
    assert set(info["cpu_flags"]) <= cpu_flags()
    assert isinstance(info["native_bf16"], bool)


def test_bf16_embeddings_match_fp32(mini):
    """The embedding stage's bf16 path (forced on, as on a bf16 CPU) against fp32: cosine >= 0.999."""
    images = torch.stack([mini.preprocess_val(Image.open(io.BytesIO(_png(i)))) for i in range(16)])
    tokens = mini.tokenizer([f"a photo of the number {i}." for i in range(16)])
    with torch.inference_mode():
        fp32_img = mini.model.encode_image(images, normalize=True)
        fp32_txt = encode_text(mini.model, tokens)
        with model_autocast(mini.model, "on"):
            bf16_img = mini.model.encode_image(images, normalize=True).float()
            bf16_txt = encode_text(mini.model, tokens).float()
    for fp32, bf16 in ((fp32_img, bf16_img), (fp32_txt, bf16_txt)):
        cosine = torch.nn.functional.cosine_similarity(fp32, bf16, dim=-1)
        assert cosine.min() >= 0.999, cosine.min()
        assert not torch.equal(fp32, bf16)  # the bf16 path did run in bf16


def test_trimmed_padding_gives_the_same_text_features(mini, tiny_base):
    tokens = mini.tokenizer(["a cat.", "a photo of a small striped shoe, a type of clothing."])
    trimmed = trim_padding(mini.model, tokens)
    assert trimmed.shape[1] < tokens.shape[1] == 32
    with torch.inference_mode():
        full = mini.model.encode_text(tokens, normalize=True)
        cut = encode_text(mini.model, tokens)
    torch.testing.assert_close(cut, full, atol=1e-5, rtol=0)
    native = tiny_base.tokenizer(["a cat."])
    assert torch.equal(trim_padding(tiny_base.model, native), native)  # open_clip's own tower: as is


def test_tensor_augment_reads_the_open_clip_transform(mini):
    augment = TensorAugment.from_transform(mini.preprocess_train)
    assert augment is not None
    assert (augment.size, augment.scale, augment.cache_size) == (32, (0.9, 1.0), 34)
    assert TensorAugment.from_transform(mini.preprocess_val) is None  # no random crop: PIL path
    boxes = np.array([augment.crop_box(seed) for seed in range(200)])
    x0, y0, w, h = boxes.T
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 1 + 1e-9).all()
    assert (y0 + h <= 1 + 1e-9).all()
    np.testing.assert_allclose(np.quantile(w * h, [0.0, 1.0]), [0.9, 1.0], atol=0.01)
    assert augment.crop_box(5) == augment.crop_box(5) != augment.crop_box(6)


def test_whole_image_crop_is_the_normalised_cached_pixels():
    transform = T.Compose([T.RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.0, 1.0)),
                           T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    augment = TensorAugment.from_transform(transform)
    assert augment is not None and augment.cache_size == 8
    pixels = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8)
    out = augment(pixels, [1, 2, 3])
    expected = (pixels.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


def test_tensor_augment_is_close_to_the_pil_transform(mini):
    """Same crop box both ways: the tensor path resamples a 34 px cache, PIL the original."""
    augment = TensorAugment.from_transform(mini.preprocess_train)
    images = [_png(i, size=64) for i in range(4)]
    cache = pixel_cache(images, 32, None)  # no margin needed for the whole-image box
    whole = TensorAugment(32, (1.0, 1.0), (1.0, 1.0), augment.mean, augment.std)
    tensors = whole(torch.from_numpy(cache), [0, 1, 2, 3])
    pil = torch.stack([T.Compose(mini.preprocess_train.transforms[1:])(
        Image.open(io.BytesIO(png)).convert("RGB").resize((32, 32), Image.Resampling.BICUBIC))
        for png in images])
    torch.testing.assert_close(tensors, pil, atol=2e-2, rtol=0)


def test_pixel_cache_is_memory_mapped_and_reused(mini, tmp_path):
    images = [_png(i) for i in range(5)]
    first = pixel_cache(images, 34, tmp_path)
    assert isinstance(first, np.memmap) and first.shape == (5, 34, 34, 3) and first.dtype == np.uint8
    (cached,) = tmp_path.glob("pixels_*.npy")
    again = pixel_cache(images, 34, tmp_path)
    np.testing.assert_array_equal(first, again)
    assert list(tmp_path.glob("pixels_*.npy")) == [cached]
    augment = TensorAugment.from_transform(mini.preprocess_train)
    plan = iter([[(0, 11), (3, 12)], [(4, 13), (1, 14)]])
    batches = list(cached_batches(first, augment, plan))
    assert [b[1].tolist() for b in batches] == [[0, 3], [4, 1]]
    assert batches[0][0].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="training image 2"):
        pixel_cache([images[0], images[1], b"broken"], 34, None)


def test_length_sorted_text_encoding_keeps_the_order(mini, tiny_base):
    texts = ["a cat.", "a photo of a small striped shoe, a type of clothing.", "a dog.",
             "a handwritten digit 7.", "an emoji of a smiling face with sunglasses.", "a cup."]
    for bundle in (mini, tiny_base):
        with torch.inference_mode():
            one_by_one = torch.cat([bundle.model.encode_text(bundle.tokenizer([t]), normalize=True)
                                    for t in texts])
        batched = encode_texts(bundle.model, bundle.tokenizer, texts, batch_size=4)
        torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=0)
