"""Clip-art source: openclipart PNGs, captioned from the SVG of the same path.

The category of a drawing is its top-level folder (``png/<category>/...``). Byte-identical
duplicate PNGs are dropped (first path in sorted order wins); images larger than the pixel budget
are skipped, never decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.samples import (
    Sample,
    Skipped,
    encode_png,
    parallel_map,
    stratified_take,
    to_rgb_thumbnail,
)
from react_assets.demo.svg_meta import SvgMetadataError, read_svg_metadata

log = logging.getLogger(__name__)
SOURCE = "openclipart"
MAX_KEYWORDS = 12
_TRAILING_NUMBER = re.compile(r"([_\-. ]+(v?\d+(\.\d+)*)?)+$")
_SEPARATORS = re.compile(r"[_\-.]+")


@dataclass(frozen=True)
class ClipartJob:
    """One PNG to decode, with what the worker needs to caption and shrink it."""

    png: Path
    svg: Path
    relative: str
    category: str
    max_side: int
    max_pixels: int


def category_name(folder: str) -> str:
    """``signs_and_symbols`` -> ``signs and symbols``."""
    return folder.replace("_", " ").strip()


def name_from_file(path: Path) -> str:
    """A readable name from a file name: ``stop_sign_right_01.png`` -> ``stop sign right``."""
    stem = _TRAILING_NUMBER.sub("", path.stem) or path.stem
    return _SEPARATORS.sub(" ", stem).strip()


def clipart_caption(path: Path, svg: Path) -> tuple[str, str | None]:
    """Caption from the SVG's title, description and keywords; falls back to the file name.

    Returns (caption, problem) where problem says why the SVG could not be used, or None.
    """
    name = name_from_file(path)
    try:
        meta = read_svg_metadata(svg)
    except SvgMetadataError as err:
        return name, str(err)
    title = meta.title
    head = title or name
    if title and name and name.lower() not in _SEPARATORS.sub(" ", title).lower():
        head = f"{name} - {title}"
    parts = [head]
    if meta.description and meta.description.lower() != title.lower():
        parts.append(meta.description)
    keywords = [k for k in meta.keywords if k.lower() != head.lower()][:MAX_KEYWORDS]
    if keywords:
        parts.append("keywords: " + ", ".join(keywords))
    return ". ".join(parts), None


def load_clipart(job: ClipartJob) -> Sample | Skipped:
    """Decode, composite on white and shrink one PNG; a worker function (module level)."""
    origin = f"{SOURCE}:{job.relative}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(job.png) as image:
                pixels = image.width * image.height
                if pixels > job.max_pixels:
                    detail = f"{image.width}x{image.height} = {pixels} px > {job.max_pixels}"
                    return Skipped(origin, "over_pixel_limit", detail)
                image.load()
                rgb = to_rgb_thumbnail(image, job.max_side)
    except Image.DecompressionBombError as err:
        return Skipped(origin, "over_pixel_limit", str(err))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return Skipped(origin, "decode_error", f"{job.png}: {err}")
    caption, svg_problem = clipart_caption(job.png, job.svg)
    extra = {"caption_from": "file_name" if svg_problem else "svg"}
    return Sample(
        source=SOURCE, origin=origin, png=encode_png(rgb), caption=caption,
        width=rgb.width, height=rgb.height, label=category_name(job.category),
        domain="clipart", extra=extra,
    )


def _unique_pngs(png_dir: Path, skipped: list[Skipped]) -> list[Path]:
    """Every PNG under ``png_dir`` in sorted order, byte-identical copies removed."""
    seen: dict[str, Path] = {}
    for path in sorted(png_dir.rglob("*.png")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            relative = path.relative_to(png_dir).as_posix()
            first = seen[digest].relative_to(png_dir).as_posix()
            detail = f"same bytes as {first}"
            skipped.append(Skipped(f"{SOURCE}:{relative}", "duplicate_file", detail))
            continue
        seen[digest] = path
    return list(seen.values())


def load_clipart_samples(config: DemoWorldConfig) -> tuple[list[Sample], list[Skipped]]:
    """All (or ``clipart_limit``, spread over categories) de-duplicated clip-art samples."""
    png_dir, svg_dir = config.sources.clipart_png_dir, config.sources.clipart_svg_dir
    if not png_dir.is_dir():
        raise FileNotFoundError(f"{png_dir}: clip-art PNGs missing (install openclipart-png)")
    skipped: list[Skipped] = []
    paths = _unique_pngs(png_dir, skipped)
    category = {p: p.relative_to(png_dir).parts[0] for p in paths}
    paths = [p for p in paths if len(p.relative_to(png_dir).parts) > 1]
    rng = random.Random(f"{config.seed}:clipart-limit")
    paths = stratified_take(paths, category.__getitem__, config.clipart_limit, rng)
    jobs = [
        ClipartJob(p, (svg_dir / p.relative_to(png_dir)).with_suffix(".svg"),
                   p.relative_to(png_dir).as_posix(), category[p], config.max_side,
                   config.max_pixels)
        for p in paths
    ]
    samples: list[Sample] = []
    for result in parallel_map(load_clipart, jobs, workers=config.workers, total=len(jobs),
                               desc="clip-art"):
        (samples if isinstance(result, Sample) else skipped).append(result)
    from_name = sum(s.extra["caption_from"] == "file_name" for s in samples)
    log.info("clip-art: %d samples, %d skipped (%s), %d captioned from the file name",
             len(samples), len(skipped), dict(Counter(s.reason for s in skipped)), from_name)
    return samples, skipped
