"""Unit tests of the demo-world sources, captions, splits and shard writer (fast, synthetic)."""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from react_assets.demo.captions import DIGITS, FASHION, UNRELATED, make_caption
from react_assets.demo.config import DemoSourcePaths, DemoWorldConfig
from react_assets.demo.samples import Sample, Skipped, encode_png, stratified_take
from react_assets.demo.shard_writer import CorpusRecord, parquet_bytes, tar_bytes
from react_assets.demo.sources_clipart import (
    ClipartJob,
    clipart_caption,
    load_clipart,
    name_from_file,
)
from react_assets.demo.sources_emoji import EmojiJob, emoji_caption, parse_emoji_test, render_emoji
from react_assets.demo.sources_labelled import read_idx
from react_assets.demo.splits import (
    ContaminationError,
    assert_disjoint,
    decontaminate,
    split_per_class,
)
from react_assets.demo.svg_meta import SvgMetadataError, read_svg_metadata

SVG = """<?xml version="1.0"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" "http://www.w3.org/TR/svg10.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:cc="http://web.resource.org/cc/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <metadata><rdf:RDF><cc:Work>
  <dc:title>red   apple</dc:title>
  <dc:description>a shiny fruit</dc:description>
  <dc:subject><rdf:Bag><rdf:li>fruit</rdf:li><rdf:li></rdf:li><rdf:li>food</rdf:li>
   <rdf:li>fruit</rdf:li></rdf:Bag></dc:subject>
  <dc:creator><cc:Agent><dc:title>Some Author</dc:title></cc:Agent></dc:creator>
 </cc:Work></rdf:RDF></metadata>
 <rect width="10" height="10"/>
</svg>"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&b;</title></svg>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&x;</title></svg>"""


def _sample(origin: str, png: bytes, label: str | None = "a") -> Sample:
    return Sample("test", origin, png, f"caption {origin}", 4, 4, label=label, domain="d")


def _png(color: tuple[int, int, int], size: int = 4) -> bytes:
    return encode_png(Image.new("RGB", (size, size), color))


def test_svg_metadata_reads_title_description_and_distinct_keywords(tmp_path: Path) -> None:
    path = tmp_path / "apple.svg"
    path.write_text(SVG, encoding="utf-8")
    meta = read_svg_metadata(path)
    assert meta.title == "red apple"  # whitespace collapsed, creator's title ignored
    assert meta.description == "a shiny fruit"
    assert meta.keywords == ("fruit", "food")


@pytest.mark.parametrize("text, needle", [(BOMB, "entity declaration"),
                                          (EXTERNAL, "entity declaration"),
                                          ("<svg><title>unclosed</svg>", "not well-formed")])
def test_svg_metadata_refuses_entities_and_broken_xml(tmp_path: Path, text: str,
                                                      needle: str) -> None:
    path = tmp_path / "bad.svg"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SvgMetadataError, match=needle) as err:
        read_svg_metadata(path)
    assert str(path) in str(err.value)


def test_clipart_caption_uses_svg_then_falls_back_to_file_name(tmp_path: Path) -> None:
    svg = tmp_path / "apple_fruit_01.svg"
    svg.write_text(SVG, encoding="utf-8")
    caption, problem = clipart_caption(tmp_path / "apple_fruit_01.png", svg)
    assert problem is None
    assert caption == "apple fruit - red apple. a shiny fruit. keywords: fruit, food"
    caption, problem = clipart_caption(tmp_path / "stop_sign_02.png", tmp_path / "missing.svg")
    assert caption == "stop sign" and "cannot read" in problem


@pytest.mark.parametrize("name, expected", [("stop_sign_right_mig_.png", "stop sign right mig"),
                                            ("steak-v0.1.png", "steak"),
                                            ("star_46pt03step.png", "star 46pt03step"),
                                            ("12.png", "12")])
def test_name_from_file(name: str, expected: str) -> None:
    assert name_from_file(Path(name)) == expected


def test_load_clipart_composites_on_white_and_thumbnails(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (300, 150), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (100, 50, 200, 100))
    rgba.save(tmp_path / "red.png")
    job = ClipartJob(tmp_path / "red.png", tmp_path / "red.svg", "food/red.png", "food", 64, 10**6)
    sample = load_clipart(job)
    assert isinstance(sample, Sample)
    assert (sample.width, sample.height) == (64, 32)
    image = Image.open(io.BytesIO(sample.png))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent -> white
    red = image.getpixel((32, 16))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert sample.label == "food" and sample.extra["caption_from"] == "file_name"


def test_load_clipart_palette_transparency_and_pixel_limit(tmp_path: Path) -> None:
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (10, 10, 30, 30))
    palette.save(tmp_path / "p.png", transparency=0)
    job = ClipartJob(tmp_path / "p.png", tmp_path / "p.svg", "shapes/p.png", "shapes", 128, 10**6)
    image = Image.open(io.BytesIO(load_clipart(job).png))
    assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((20, 20)) == (0, 0, 255)
    big = ClipartJob(tmp_path / "p.png", tmp_path / "p.svg", "shapes/p.png", "shapes", 128, 1599)
    skipped = load_clipart(big)
    assert isinstance(skipped, Skipped) and skipped.reason == "over_pixel_limit"
    (tmp_path / "junk.png").write_bytes(b"not a png")
    junk = ClipartJob(tmp_path / "junk.png", tmp_path / "j.svg", "x/junk.png", "x", 128, 10**6)
    assert load_clipart(junk).reason == "decode_error"


def test_caption_noise_rate_and_kinds() -> None:
    rng = random.Random(7)
    captions = [make_caption("bag", FASHION, 0.15, rng) for _ in range(20000)]
    noisy = [c for c in captions if c.noise is not None]
    assert abs(len(noisy) / len(captions) - 0.15) < 0.01
    mislabelled = [c for c in noisy if c.noise == "mislabelled"]
    assert 0.4 < len(mislabelled) / len(noisy) < 0.6
    bag_words = FASHION.synonyms["bag"]
    assert not any("bag" in c.text or "purse" in c.text for c in mislabelled)
    clean = [c.text for c in captions if c.noise is None]
    assert all(any(w in text for w in bag_words) for text in clean)
    assert len(set(clean)) > 30  # template x synonym variety
    unrelated_prefixes = {u.split("{")[0] for u in UNRELATED}
    assert all(any(c.text.startswith(p) for p in unrelated_prefixes)
               for c in noisy if c.noise == "unrelated")
    assert make_caption("three", DIGITS, 0.0, random.Random(1)).noise is None


def test_stratified_take_covers_groups_and_is_deterministic() -> None:
    items = [(group, i) for group in "abcde" for i in range(20 if group == "a" else 3)]
    first = stratified_take(items, lambda x: x[0], 10, random.Random(3))
    assert len(first) == 10 and {g for g, _ in first} == set("abcde")
    assert first == stratified_take(items, lambda x: x[0], 10, random.Random(3))
    assert first == sorted(first, key=items.index)  # input order kept
    assert stratified_take(items, lambda x: x[0], None, random.Random(3)) == items


def test_read_idx_parses_and_rejects_truncated(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = np.array([2051, 2, 3, 4], dtype=">u4").tobytes()
    good = tmp_path / "good-images-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(header + images.tobytes()))
    assert np.array_equal(read_idx(good), images)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(header + images.tobytes()[:-1]))
    with pytest.raises(ValueError, match="bad.gz"):
        read_idx(bad)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        read_idx(tmp_path / "missing.gz")


def test_parse_emoji_test_keeps_fully_qualified_without_skin_tones(tmp_path: Path) -> None:
    text = "\n".join([
        "# group: Food & Drink", "# subgroup: food-fruit",
        "1F34E      ; fully-qualified     # 🍎 E0.6 red apple",
        "# group: People & Body", "# subgroup: hand-fingers-open",
        "1F44B      ; fully-qualified     # 👋 E0.6 waving hand",
        "1F44B 1F3FB; fully-qualified     # 👋🏻 E1.0 waving hand: light skin tone",
        "263A       ; unqualified         # ☺ E0.6 smiling face",
    ])
    path = tmp_path / "emoji-test.txt"
    path.write_text(text + "\n", encoding="utf-8")
    entries = parse_emoji_test(path)
    assert [e.name for e in entries] == ["red apple", "waving hand"]
    assert emoji_caption(entries[0]) == "emoji of a red apple, food & drink, food-fruit"
    assert entries[1].group == "People & Body" and entries[1].code == "1F44B"


@pytest.mark.skipif(not DemoSourcePaths().emoji_font.is_file(),
                    reason="fonts-noto-color-emoji is not installed")
def test_render_emoji_draws_a_colour_glyph_on_white(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_text("# group: Food & Drink\n# subgroup: food-fruit\n"
                    "1F34E ; fully-qualified # 🍎 E0.6 red apple\n", encoding="utf-8")
    sample = render_emoji(EmojiJob(parse_emoji_test(path)[0], DemoSourcePaths().emoji_font, 64))
    image = Image.open(io.BytesIO(sample.png))
    assert image.size == (64, 64) and image.getpixel((0, 0)) == (255, 255, 255)
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    reddish = (pixels[:, 0] > 150) & (pixels[:, 1] < 100) & (pixels[:, 2] < 100)
    assert reddish.mean() > 0.2  # an apple, in colour


def test_tar_and_parquet_are_deterministic_img2dataset_layout() -> None:
    records = [CorpusRecord(f"{i:09d}", _png((i, 0, 0)), f"café {i}",
                            {"source": "s", "width": 4, "height": 4, "url": f"u{i}"})
               for i in range(3)]
    data = tar_bytes(records)
    assert data == tar_bytes(records)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        assert [m.name for m in members[:3]] == ["000000000.png", "000000000.txt", "000000000.json"]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
        assert archive.extractfile("000000001.txt").read().decode("utf-8") == "café 1"
        assert json.loads(archive.extractfile("000000002.json").read())["url"] == "u2"
    table = pq.read_table(io.BytesIO(parquet_bytes(records)))
    assert table.column_names == ["key", "caption", "source", "url", "width", "height", "status"]
    assert table.column("status").to_pylist() == ["success"] * 3


def test_split_decontaminate_and_disjointness_check() -> None:
    samples = [_sample(f"s{i}", _png((i, i, 0)), label="ab"[i % 2]) for i in range(40)]
    split = split_per_class(samples, heldout_fraction=0.2, examples_per_class=2,
                            min_per_class=5, rng=random.Random(0))
    assert split.classes == ["a", "b"] and len(split.eval) == 8 and len(split.examples) == 4
    assert len(split.corpus) == 28
    held = split.eval + split.examples
    assert not {s.origin for s in held} & {s.origin for s in split.corpus}
    leaked = split.corpus + [_sample("copy", held[0].png)]
    kept, dropped = decontaminate(leaked + [_sample("twin", split.corpus[0].png)], held)
    assert [d.reason for d in dropped] == ["same_image_as_heldout", "duplicate_image"]
    assert_disjoint(kept, {"eval": held})
    with pytest.raises(ContaminationError, match="copy"):
        assert_disjoint(leaked, {"eval": held})


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="caption_noise=1.5"):
        DemoWorldConfig(out_dir=tmp_path, caption_noise=1.5)
    with pytest.raises(ValueError, match="heldout_fraction"):
        DemoWorldConfig(out_dir=tmp_path, heldout_fraction=0.0)
