"""Opening images: every bad input is a clear ImageError, never a traceback from PIL or a decoded bomb."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from creditlens.attribution.data.image_files import MAX_PIXELS, ImageError, open_image


def _png(size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128).save(buffer, "PNG")
    return buffer.getvalue()


def _with_declared_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with its IHDR chunk claiming another size (a valid CRC, so only the size is a lie)."""
    ihdr = png[12:16] + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + png[8:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_opens_png_as_rgb_and_greyscale_as_l() -> None:
    assert open_image(_png()).mode == "RGB"
    assert open_image(_png(mode="L")).mode == "L"
    assert open_image(_png((7, 5))).size == (7, 5)


def test_truncated_file_is_reported_as_truncated() -> None:
    with pytest.raises(ImageError, match="truncated or corrupt"):
        open_image(_png()[:70], name="upload.png")


def test_non_image_names_the_input() -> None:
    with pytest.raises(ImageError, match=r"notes\.txt is not an image"):
        open_image(b"just some text", name="notes.txt")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        open_image(tmp_path / "absent.png")


def test_image_over_the_pixel_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageError, match=r"40 x 30 = 1,200 pixels, over the limit of 1,000"):
        open_image(_png(), max_pixels=1000)


def test_decompression_bomb_header_is_refused_without_decoding() -> None:
    bomb = _with_declared_size(_png(), 100_000, 100_000)  # claims 10 gigapixels; decoding would need 30 GB
    with pytest.raises(ImageError, match="decompression bomb"):
        open_image(bomb)
    assert 100_000 * 100_000 > MAX_PIXELS
