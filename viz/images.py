"""Input images as RGB arrays in [0, 1] (any layout and range), in grey, and patch grids upsampled to them."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from ._arrays import as_array


def as_rgb(image: ArrayLike | Image.Image) -> np.ndarray:
    """An image as a float RGB array `[H, W, 3]` in [0, 1].

    Args:
        image: a PIL image; or an array or tensor `[H, W]`, `[H, W, C]`, `[C, H, W]` or `[1, C, H, W]` with
            1, 3 or 4 channels (alpha is dropped). Integer arrays are read as 0..255; float arrays outside
            [0, 1] (such as normalised pixels) are rescaled from their own min..max to [0, 1].
    """
    native = _native(image)
    integer = np.issubdtype(native.dtype, np.integer)
    array = native.astype(np.float64)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # channels first, as models take pixels
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"an image must be [H, W], [H, W, C] or [C, H, W] with C in 1, 3, 4; got {array.shape}."
        )
    array = np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array[..., :3]
    if integer:
        return np.clip(array / 255.0, 0.0, 1.0)
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if low < 0.0 or high > 1.0:
        span = high - low
        return (array - low) / span if span > 0 else np.zeros_like(array)
    return array


def to_uint8(image: ArrayLike | Image.Image) -> np.ndarray:
    """An image as a uint8 RGB array `[H, W, 3]` (see `as_rgb` for what it takes)."""
    return np.round(as_rgb(image) * 255.0).astype(np.uint8)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance `[H, W]` in [0, 1] of an RGB array `[H, W, 3]` in [0, 1] (ITU-R BT.601 weights)."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def upsample(grid: ArrayLike, size: tuple[int, int], *, smooth: bool = True) -> np.ndarray:
    """A patch grid `[rows, cols]` resized to an image's `(height, width)`, bilinear or nearest.

    Bilinear interpolation stays within the grid's range, so upsampled credit keeps its colour scale.
    """
    values = as_array(grid, ndim=2, name="grid").astype(np.float32)
    height, width = size
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    resized = Image.fromarray(values).resize((width, height), resample=resample)
    return np.asarray(resized, dtype=np.float64)


def _native(image: ArrayLike | Image.Image) -> np.ndarray:
    """An image as a numpy array of its own dtype (so 0..255 integers can be told from floats)."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if hasattr(image, "detach"):
        tensor = image.detach().cpu()
        return (tensor.float() if tensor.is_floating_point() else tensor).numpy()
    return np.asarray(image)
