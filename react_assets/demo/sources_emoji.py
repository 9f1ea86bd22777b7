"""Emoji source: Noto Color Emoji rendered by Pillow, named by Unicode's emoji-test.txt.

Only fully-qualified emoji without skin-tone modifiers are used. A sequence the font cannot draw
as one glyph (it falls apart into several, or draws nothing) is skipped with a counted reason.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.samples import (
    Sample,
    Skipped,
    encode_png,
    parallel_map,
    stratified_take,
    to_rgb_thumbnail,
)

log = logging.getLogger(__name__)
SOURCE = "noto-emoji"
FONT_SIZE = 109  # the only bitmap strike in Noto Color Emoji
SKIN_TONES = range(0x1F3FB, 0x1F400)
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*([a-z-]+)\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")


@dataclass(frozen=True)
class EmojiEntry:
    """One line of emoji-test.txt."""

    codepoints: tuple[int, ...]
    name: str
    group: str
    subgroup: str

    @property
    def text(self) -> str:
        return "".join(chr(c) for c in self.codepoints)

    @property
    def code(self) -> str:
        return "-".join(f"{c:04X}" for c in self.codepoints)


def parse_emoji_test(path: Path) -> list[EmojiEntry]:
    """Fully-qualified emoji without skin-tone modifiers, in file order."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: emoji-test.txt missing (install unicode-data)")
    entries: list[EmojiEntry] = []
    group = subgroup = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            match = _LINE.match(line)
            if match is None:
                raise ValueError(f"{path}:{number}: unrecognised emoji-test line {line!r}")
            codes = tuple(int(c, 16) for c in match.group(1).split())
            if match.group(2) != "fully-qualified" or any(c in SKIN_TONES for c in codes):
                continue
            entries.append(EmojiEntry(codes, match.group(3).strip(), group, subgroup))
    return entries


def emoji_caption(entry: EmojiEntry) -> str:
    """``emoji of a red apple, food & drink, food-fruit``."""
    name = entry.name
    plural = name.endswith("s") and not name.endswith(("ss", "us"))
    article = "" if plural or name[:1].isdigit() else "an " if name[:1].lower() in "aeiou" else "a "
    return f"emoji of {article}{name}, {entry.group.lower()}, {entry.subgroup}"


@lru_cache(maxsize=2)
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, FONT_SIZE)


@dataclass(frozen=True)
class EmojiJob:
    """One emoji to render."""

    entry: EmojiEntry
    font: Path
    max_side: int


def render_emoji(job: EmojiJob) -> Sample | Skipped:
    """Draw one emoji on white, crop to its ink, pad square, shrink; a worker function."""
    entry, origin = job.entry, f"{SOURCE}:{job.entry.code}"
    font = _font(str(job.font))
    canvas = Image.new("RGBA", (FONT_SIZE * 4, FONT_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((FONT_SIZE // 4, FONT_SIZE // 4), entry.text, font=font,
                                embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        return Skipped(origin, "not_rendered", f"{entry.name!r}: the font drew nothing")
    width, height = box[2] - box[0], box[3] - box[1]
    if width > 1.6 * FONT_SIZE:
        return Skipped(origin, "not_one_glyph", f"{entry.name!r}: {width} px wide, not one glyph")
    side = max(width, height)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(canvas.crop(box), ((side - width) // 2, (side - height) // 2))
    rgb = to_rgb_thumbnail(square, job.max_side)
    return Sample(
        source=SOURCE, origin=origin, png=encode_png(rgb), caption=emoji_caption(entry),
        width=rgb.width, height=rgb.height, label=None, domain=None,
        extra={"emoji": entry.text, "name": entry.name, "group": entry.group,
               "subgroup": entry.subgroup},
    )


def load_emoji_samples(config: DemoWorldConfig) -> tuple[list[Sample], list[Skipped]]:
    """Rendered emoji (all, or ``emoji_limit`` spread over the groups), in emoji-test order."""
    font = config.sources.emoji_font
    if not font.is_file():
        raise FileNotFoundError(f"{font}: emoji font missing (install fonts-noto-color-emoji)")
    entries = parse_emoji_test(config.sources.emoji_test)
    rng = random.Random(f"{config.seed}:emoji-limit")
    entries = stratified_take(entries, lambda e: e.group, config.emoji_limit, rng)
    jobs = [EmojiJob(entry, font, config.max_side) for entry in entries]
    samples: list[Sample] = []
    skipped: list[Skipped] = []
    for result in parallel_map(render_emoji, jobs, workers=config.workers, total=len(jobs),
                               desc="emoji"):
        (samples if isinstance(result, Sample) else skipped).append(result)
    log.info("emoji: %d rendered, %d skipped (%s)", len(samples), len(skipped),
             dict(Counter(s.reason for s in skipped)))
    return samples, skipped
