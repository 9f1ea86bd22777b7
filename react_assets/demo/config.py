"""Configuration of the offline demo world: what to read, how much of it, and how to split it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Bump when the builder's output changes for an unchanged config, so old worlds are rebuilt.
# 2: the domain spec fixes retrieval (general_fraction) and variants; 3: a labelled train split
# per target dataset (out of the corpus) and class synonyms in the spec; 4: PNGs at zlib level 1
# and thumbnails with Pillow's default reducing gap (a faster build); 5: general_fraction 2.0
BUILDER_VERSION = 5
# Pillow's default decompression-bomb threshold (89,478,485 pixels), held here, not read from PIL.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3


@dataclass(frozen=True)
class DemoSourcePaths:
    """Where the Debian packages put the raw sources (their default install locations)."""

    clipart_png_dir: Path = Path("/usr/share/openclipart/png")
    clipart_svg_dir: Path = Path("/usr/share/openclipart/svg")
    emoji_font: Path = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
    emoji_test: Path = Path("/usr/share/unicode/emoji/emoji-test.txt")
    fashion_dir: Path = Path("/usr/share/datasets/fashion-mnist")

    def missing(self) -> dict[str, str]:
        """The sources that are not installed: path -> the Debian package that provides it."""
        packages = {
            self.clipart_png_dir: "openclipart-png",
            self.clipart_svg_dir: "openclipart-svg",
            self.emoji_font: "fonts-noto-color-emoji",
            self.emoji_test: "unicode-data",
            self.fashion_dir: "dataset-fashion-mnist",
        }
        return {str(path): pkg for path, pkg in packages.items() if not path.exists()}


@dataclass(frozen=True)
class DemoWorldConfig:
    """Everything that decides the demo world's content; equal configs build identical worlds.

    Limits (``None`` = everything) exist so tests can build a tiny world in seconds.
    ``caption_noise`` is the probability that a labelled sample's caption is unrelated or names
    the wrong class; ``heldout_fraction`` is the per-class share held out for evaluation.
    """

    out_dir: Path
    samples_per_shard: int = 2000
    fashion_train_limit: int | None = 10000
    fashion_test_limit: int | None = 2000
    clipart_limit: int | None = None
    emoji_limit: int | None = None
    digits_limit: int | None = None
    max_side: int = 128
    caption_noise: float = 0.15
    heldout_fraction: float = 0.2
    seed: int = 0
    workers: int = 2
    fashion_side: int = 64
    digits_side: int = 32
    examples_per_class: int = 4
    train_per_class: int = 60  # the train split's images per class (50-shot probes + validation)
    clipart_heldout_max_per_class: int = 50
    clipart_min_per_class: int = 10
    retrieval_size: int = 300
    max_pixels: int = DEFAULT_MAX_PIXELS
    sources: DemoSourcePaths = DemoSourcePaths()

    def __post_init__(self) -> None:
        checks = {
            "samples_per_shard": self.samples_per_shard >= 1,
            "max_side": self.max_side >= 8,
            "caption_noise": 0.0 <= self.caption_noise <= 1.0,
            "heldout_fraction": 0.0 < self.heldout_fraction < 1.0,
            "workers": self.workers >= 1,
            "fashion_side": self.fashion_side >= 8,
            "digits_side": self.digits_side >= 8,
            "examples_per_class": self.examples_per_class >= 0,
            "train_per_class": self.train_per_class >= 0,
            "retrieval_size": self.retrieval_size >= 0,
            "max_pixels": self.max_pixels >= 1,
        }
        for name in ("fashion_train_limit", "fashion_test_limit", "clipart_limit", "emoji_limit",
                     "digits_limit"):
            value = getattr(self, name)
            checks[name] = value is None or value >= 0
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"DemoWorldConfig: invalid value(s): {values}")

    def fingerprint(self) -> dict[str, Any]:
        """What decides the content, as JSON-able data: the config (paths as strings) without
        ``workers`` (any worker count builds the same bytes), plus the builder version."""
        data = asdict(self)
        del data["workers"]
        data["out_dir"] = str(self.out_dir)
        data["sources"] = {k: str(v) for k, v in data["sources"].items()}
        data["builder_version"] = BUILDER_VERSION
        return data
