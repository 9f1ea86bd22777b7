"""Image files decoded into 8-bit RGB, the same way for every stage that reads one.

:func:`to_rgb` converts each mode Pillow decodes by the range of its values, never by clipping
them to 8 bits (Pillow's own ``convert("RGB")`` clips a 16-bit value of 1000 to 255, so a
near-black 16-bit greyscale image turns white):

- ``I;16``, ``I;16B``, ``I;16L``, ``I;16N`` (16-bit greyscale): 0..65535 maps to 0..255.
- ``I`` (32-bit integer): read as 16-bit samples, 0..65535 to 0..255, since that is what
  Pillow's decoders put in this mode (16-bit PNG/PGM/TIFF greyscale); values outside are
  clipped. A fixed range keeps an image's brightness: a dark image stays dark.
- ``F`` (32-bit float): 0.0..1.0 maps to 0..255 (the float-image convention of PFM and float
  TIFF); values outside are clipped, NaN is black.
- Transparency (``RGBA``, ``LA``, ``PA``, ``P``/``L``/``RGB`` with a ``transparency`` entry, a
  16-bit image's transparent value) is composited on white.
- Every other mode (``1``, ``L``, ``P``, ``CMYK``, ``YCbCr``, ...) goes through Pillow's own
  8-bit conversion.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from PIL import Image

BACKGROUND = (255, 255, 255)  # what transparent pixels become
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
WIDE_GREY_MODES = (*SIXTEEN_BIT_MODES, "I", "F")  # greyscale wider than 8 bits
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa")
_SIXTEEN_BIT_MAX = 65535.0


class ImageDecodeError(ValueError):
    """Image bytes that cannot be decoded into RGB; the message names where they came from."""


class ImageTooLargeError(ImageDecodeError):
    """An image whose declared size is over the pixel limit, refused before decoding."""


def open_image(data: bytes, where: str, *, formats: tuple[str, ...] | None = None,
               max_pixels: int | None = None) -> Image.Image:
    """Decode ``data`` fully, in its own mode; errors name ``where`` (a file or member).

    ``formats``: the Pillow formats accepted (None: any). ``max_pixels``: the declared size is
    checked before decoding and Pillow's bomb warning is an error.
    """
    if not data:
        raise ImageDecodeError(f"{where}: empty image file (0 bytes)")
    try:
        # Warning filters are process-wide: changed only when a limit asks for it.
        with warnings.catch_warnings() if max_pixels is not None else contextlib.nullcontext():
            if max_pixels is not None:
                warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageTooLargeError(f"{where}: {width}x{height} exceeds {max_pixels} pixels")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLargeError(f"{where}: {err}") from err
    except Image.UnidentifiedImageError as err:
        kind = f"a {'/'.join(formats)} image" if formats else "an image of a format it reads"
        raise ImageDecodeError(f"{where}: Pillow cannot identify it as {kind} (its first bytes "
                               f"are {data[:16]!r})") from err
    except (OSError, SyntaxError, ValueError) as err:  # Pillow's errors for bad image bytes
        if isinstance(err, ImageDecodeError):
            raise
        raise ImageDecodeError(f"{where}: cannot decode the image ({type(err).__name__}: "
                               f"{err})") from err
    if width == 0 or height == 0:
        raise ImageDecodeError(f"{where}: the image has zero size ({width}x{height})")
    return image


def decode_rgb(data: bytes, where: str, *, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Decode image bytes into 8-bit RGB by :func:`to_rgb`; errors name ``where``."""
    image = open_image(data, where, formats=formats)
    try:
        return to_rgb(image)
    except ValueError as err:
        raise ImageDecodeError(f"{where}: cannot convert mode {image.mode} to RGB ({err})") from err


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, each mode by its value range (module docstring); an RGB image
    without transparency is returned as it is."""
    if image.mode in WIDE_GREY_MODES:
        image = to_8bit_grey(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def to_8bit_grey(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float greyscale image as ``L`` (``LA`` when one of its
    values is marked transparent), scaled by its mode's range."""
    values = np.asarray(image)
    top = 1.0 if image.mode == "F" else _SIXTEEN_BIT_MAX
    # NaN (a float image's "no data") becomes black, like a value under the range.
    scaled = np.clip(np.nan_to_num(values.astype(np.float64), nan=0.0), 0.0, top) * (255.0 / top)
    grey = np.rint(scaled).astype(np.uint8)
    transparent = image.info.get("transparency")
    if isinstance(transparent, (int, float)) and not isinstance(transparent, bool):
        alpha = np.where(values == transparent, 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([grey, alpha], axis=-1))  # (H, W, 2) uint8: LA
    return Image.fromarray(grey)  # (H, W) uint8: L
