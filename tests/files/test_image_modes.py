"""Every image mode becomes 8-bit RGB by its value range, in every stage: a dark 16-bit or 32-bit
greyscale image stays dark (Pillow's own ``convert("RGB")`` clips it to white)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image
from shard_factory import add_member, write_shard

from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.pairs import ShardRows, shard_rows
from react_assets.customize.data import ImageDataset
from react_assets.customize.pixels import decode_square
from react_assets.domains.images import load_rgb
from react_assets.embed.encode import EmbeddingConfig, embed_shard
from react_assets.files.images import decode_rgb, to_rgb
from react_assets.retrieve.grid import retrieval_grid

EMBED = EmbeddingConfig(batch_size=4, text_batch_size=8, workers=0, chunk_rows=8)
WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def tiny(tiny_base, one_torch_thread):
    """The session's tiny base model (read only), encoding with one torch thread."""
    return tiny_base


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def grey16(value: int | np.ndarray, size: int = 16) -> Image.Image:
    """A 16-bit greyscale image (mode I;16): one value, or the given array."""
    values = np.full((size, size), value) if np.isscalar(value) else value
    return Image.fromarray(np.asarray(values, dtype=np.uint16))


def palette(transparent: int | None) -> Image.Image:
    """A 2x1 P image: pixel 0 red (index 0), pixel 1 blue (index 1)."""
    image = Image.new("P", (2, 1), 0)
    image.putpalette([*RED, *BLUE])
    image.putpixel((1, 0), 1)
    if transparent is not None:
        image.info["transparency"] = transparent
    return image


def with_alpha(mode: str, alpha: int) -> Image.Image:
    image = palette(None).convert("RGBA")
    image.putalpha(alpha)
    return image.convert(mode)


MODES = {  # name: (image, expected RGB of pixel (0, 0), of pixel (1, 0) when given)
    "I;16 dark": (Image.new("I;16", (2, 1), 1000), [(4, 4, 4)]),
    "I;16 bright": (Image.new("I;16", (2, 1), 40000), [(156, 156, 156)]),
    "I;16B": (Image.new("I;16B", (2, 1), 40000), [(156, 156, 156)]),
    "I;16L": (Image.new("I;16L", (2, 1), 1000), [(4, 4, 4)]),
    "I": (Image.new("I", (2, 1), 40000), [(156, 156, 156)]),
    "I negative and over 16 bits": (Image.fromarray(np.array([[-5, 70000]], np.int32)),
                                    [(0, 0, 0), WHITE]),
    "F": (Image.fromarray(np.array([[0.25, 1.5]], np.float32)), [(64, 64, 64), WHITE]),
    "LA": (Image.fromarray(np.array([[[100, 255], [100, 0]]], np.uint8)), [(100,) * 3, WHITE]),
    "PA": (with_alpha("PA", 0), [WHITE, WHITE]),
    "PA opaque": (with_alpha("PA", 255), [RED, BLUE]),
    "CMYK": (Image.new("CMYK", (2, 1), (0, 255, 255, 0)), [RED]),
    "P with transparency": (palette(transparent=1), [RED, WHITE]),
    "P": (palette(transparent=None), [RED, BLUE]),
    "RGBA": (Image.fromarray(np.array([[[10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)),
             [(10, 20, 30), WHITE]),
    "L": (Image.new("L", (2, 1), 77), [(77, 77, 77)]),
    "1": (Image.fromarray(np.array([[True, False]])), [WHITE, (0, 0, 0)]),
}


def test_every_mode_converts_to_its_expected_colour():
    got = {}
    for name, (image, expected) in MODES.items():
        rgb = to_rgb(image)
        assert rgb.mode == "RGB" and rgb.size == image.size, name
        got[name] = [rgb.getpixel((x, 0)) for x in range(len(expected))]
    assert got == {name: expected for name, (_, expected) in MODES.items()}


def test_a_16_bit_png_decodes_to_its_8_bit_rendering_and_keeps_its_transparent_value():
    values = np.random.default_rng(0).integers(0, 65536, size=(16, 16))
    rendering = (values * 255 + 32767) // 65535  # 8-bit, rounded in integers
    decoded = np.asarray(decode_rgb(encoded(grey16(values)), "pattern.png"), dtype=np.int64)
    assert np.abs(decoded - rendering[..., None]).max() <= 1
    image = grey16(np.array([[1000, 40000]]))
    transparent = Image.open(io.BytesIO(encoded(image, transparency=40000)))
    assert transparent.mode == "I;16"
    assert [to_rgb(transparent).getpixel((x, 0)) for x in (0, 1)] == [(4, 4, 4), WHITE]


def test_16_bit_pngs_are_embedded_by_their_brightness(tmp_path, store, tiny):
    pattern = np.random.default_rng(1).integers(0, 65536, size=(16, 16))
    images = {"dark": grey16(1000), "bright": grey16(40000), "bright8": Image.new("L", (16, 16), 156),
              "pattern": grey16(pattern), "pattern8": Image.fromarray(
                  ((pattern * 255 + 32767) // 65535).astype(np.uint8))}
    shard = write_shard(tmp_path / "g.tar", [{"key": k, "image": encoded(v), "caption": k}
                                             for k, v in images.items()])
    report = ingest_shard(shard, "g", store, IngestConfig(workers=1))
    assert report.n_pairs == 5
    got = embeddings_by_key(shard_rows(store, "g", shard), tiny, tmp_path / "emb")
    assert np.abs(got["dark"] - got["bright"]).max() > 0.05  # was identical: both white
    np.testing.assert_allclose(got["bright"], got["bright8"], atol=3e-3)
    np.testing.assert_allclose(got["pattern"], got["pattern8"], atol=3e-3)


def test_32_bit_integer_and_float_greyscale_are_embedded_by_their_value_range(tmp_path, tiny):
    images = {"int_dark": Image.new("I", (16, 16), 1000), "int_bright": Image.new("I", (16, 16), 40000),
              "float_dark": Image.new("F", (16, 16), 0.02), "float_bright": Image.new("F", (16, 16), 0.6),
              "grey156": Image.new("L", (16, 16), 156), "grey153": Image.new("L", (16, 16), 153)}
    tar_path = tmp_path / "wide.tar"  # TIFF holds these modes; embedding reads what it is given
    with tarfile.open(tar_path, "w") as archive:
        for key, image in images.items():
            add_member(archive, f"{key}.tif", encoded(image, "TIFF"))
    rows = ShardRows("wide", tar_path, np.arange(len(images), dtype=np.int64),
                     [f"{k}.tif" for k in images], list(images))
    got = embeddings_by_key(rows, tiny, tmp_path / "emb")
    assert np.abs(got["int_dark"] - got["int_bright"]).max() > 0.05
    assert np.abs(got["float_dark"] - got["float_bright"]).max() > 0.05
    np.testing.assert_allclose(got["int_bright"], got["grey156"], atol=3e-3)
    np.testing.assert_allclose(got["float_bright"], got["grey153"], atol=3e-3)


def embeddings_by_key(rows: ShardRows, bundle, out_dir) -> dict[str, np.ndarray]:
    result = embed_shard(rows, bundle.model, bundle.preprocess_val, bundle.tokenizer, out_dir,
                         EMBED, bundle.model_id)
    embeddings = np.load(result.folder / "img_emb.npy").astype(np.float32)
    return {name.split(".")[0]: embeddings[i] for i, name in enumerate(rows.image_members)}


def test_training_evaluation_and_the_grid_read_a_dark_16_bit_image_as_dark(tmp_path):
    dark = encoded(grey16(1000))
    assert np.asarray(load_rgb(dark, "eval/dark.png")).max() == 4
    assert decode_square(dark, 8, 0).max() == 4
    pixels, _ = ImageDataset([dark], lambda image: np.asarray(image))[(0, 0)]
    assert pixels.max() == 4
    grid = retrieval_grid({"c": [grey16(1000, size=32)]}, tmp_path / "grid.png", thumb=32)
    with Image.open(grid) as drawn:
        label_width = 8 * len("c") + 8
        assert drawn.convert("RGB").getpixel((label_width + 16, 16)) == (4, 4, 4)
