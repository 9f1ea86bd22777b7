"""The sample record every source yields, and the image helpers the sources share."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from PIL import Image
from tqdm import tqdm

from react_assets.files.images import WIDE_GREY_MODES, to_8bit_grey

T = TypeVar("T")
R = TypeVar("R")
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Sample:
    """One image with its caption and provenance, before it is assigned to a split.

    ``label`` is the class name within ``domain`` (a target domain, or ``"clipart"`` for the
    general categories), or None when the sample has no class.
    """

    source: str
    origin: str
    png: bytes
    caption: str
    width: int
    height: int
    label: str | None = None
    domain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """A source item that did not become a sample, and why (a short reason code + detail)."""

    origin: str
    reason: str
    detail: str


def encode_png(image: Image.Image) -> bytes:
    """Encode an RGB image as PNG bytes, deterministically (no timestamps, fixed settings).

    zlib level 1: about half the encoding time of level 6 for files a little larger."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to RGB, RGBA, L or LA (transparency kept as alpha)."""
    if image.mode in WIDE_GREY_MODES:
        image = to_8bit_grey(image)  # by the mode's value range, as every stage reads images
    if "transparency" in image.info and image.mode in ("P", "L", "RGB", "1"):
        return image.convert("RGBA")
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    return image.convert("RGBA" if image.mode in ("PA", "P", "RGBa", "La") else "RGB")


def to_rgb_thumbnail(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink (never enlarge) to ``max_side`` on the longer side, then composite on white as RGB.

    Shrinking comes first, on the alpha-carrying image (Pillow resizes RGBA premultiplied), so the
    full-size image is never copied again.
    """
    image = _normalise_mode(image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def stratified_take(
    items: Sequence[T], key: Callable[[T], Hashable], limit: int | None, rng: random.Random
) -> list[T]:
    """Up to ``limit`` items, taken round-robin over groups so every group is represented.

    Within a group the order is a seeded shuffle; the result keeps the input order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append(index)
    queues = [rng.sample(indices, len(indices)) for _, indices in sorted(groups.items(), key=str)]
    chosen: list[int] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return [items[i] for i in sorted(chosen)]


def parallel_map(
    func: Callable[[T], R], jobs: Iterable[T], *, workers: int, total: int, desc: str
) -> Iterator[R]:
    """``map(func, jobs)`` in input order, over ``workers`` spawned processes, with a progress bar.

    ``func`` must be a module-level function (it is pickled by name). Spawn, not fork, so the
    caller's threads and open handles (DuckDB, torch) are never copied into the workers. A worker
    that dies (killed, crashed) raises an error here: ``multiprocessing.Pool`` would wait forever
    for its lost tasks (seen once, in a test run on a loaded machine).
    """
    bar = tqdm(total=total, desc=desc, unit="img", leave=False)
    try:
        if workers <= 1:
            for job in jobs:
                yield func(job)
                bar.update()
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            try:
                for result in pool.map(func, jobs, chunksize=16):
                    yield result
                    bar.update()
            except BrokenProcessPool as err:
                raise RuntimeError(f"{desc}: a worker process died (killed or crashed); "
                                   "re-run, or build with workers=1 to see the failing input"
                                   ) from err
    finally:
        bar.close()
