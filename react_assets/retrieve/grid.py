"""A picture of what retrieval found: one row per class, its best images as thumbnails."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from react_assets.files.atomic import atomic_path
from react_assets.files.images import to_rgb


def retrieval_grid(images_by_class: dict[str, list[Image.Image]], path: Path | str,
                   thumb: int = 64) -> Path:
    """Write a PNG grid: one row per class, its label then its top images as thumbnails."""
    if not images_by_class:
        raise ValueError("retrieval_grid needs at least one class")
    label_width = 8 * max(len(name) for name in images_by_class) + 8
    columns = max(1, max(len(images) for images in images_by_class.values()))
    canvas = Image.new("RGB", (label_width + columns * (thumb + 2), len(images_by_class) *
                               (thumb + 2)), "white")
    draw = ImageDraw.Draw(canvas)
    for row, (name, images) in enumerate(images_by_class.items()):
        top = row * (thumb + 2)
        draw.text((4, top + thumb // 2 - 6), name, fill="black")
        for column, image in enumerate(images):
            tile = to_rgb(image).copy()  # thumbnail() works in place
            tile.thumbnail((thumb, thumb))
            canvas.paste(tile, (label_width + column * (thumb + 2), top))
    target = Path(path)
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="PNG")
    return target
