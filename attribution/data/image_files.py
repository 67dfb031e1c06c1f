"""Opening images safely: clear errors for files that are not images, truncated or corrupt, or too large.

The pixel limit is checked from the header, before any pixel is decoded, so a decompression bomb never
reaches memory.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # 40 megapixels: larger than any camera photo a classifier needs


class ImageError(ValueError):
    """An input that cannot be used as an image; the message says what was wrong and what to do."""


def open_image(
    source: str | Path | bytes | BinaryIO, *, name: str | None = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Open and fully decode an image as RGB (or L for greyscale images).

    Args:
        source: a path, the file's bytes, or a binary file object.
        name: how to call the input in error messages (default: the path, or "the image").
        max_pixels: largest accepted width x height.

    Raises:
        ImageError: the input is not an image, is truncated or corrupt, or has more than `max_pixels` pixels.
    """
    name = name or (str(source) if isinstance(source, (str, Path)) else "the image")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name} is {width} x {height} = {width * height:,} pixels, over the limit of {max_pixels:,}; "
                    "resize it first."
                )
            image.load()
    except FileNotFoundError:
        raise ImageError(f"{name} does not exist.") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not an image PIL can read (PNG, JPEG, WebP, BMP, GIF, TIFF, ...)."
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(
            f"{name} declares an enormous size (a decompression bomb); it was not decoded."
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, ImageError):
            raise
        raise ImageError(f"{name} is truncated or corrupt ({err}).") from None
    return image.convert("L" if image.mode in ("1", "L", "I;16", "I", "F") else "RGB")
