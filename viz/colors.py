"""Colour scales of credit: signed credit on a diverging map centred at zero, magnitude on a log scale.

Also the colourbar that shows either scale.

Signed credit uses a diverging colormap (`RdBu_r`) with symmetric limits `vmin = -vmax`, so white means zero
credit whatever the data. The magnitude view shows `|credit|` with a `LogNorm` whose floor is `vmax / 1e4`
(values below the floor, zeros included, are drawn in the floor's colour). An all-zero or non-finite map falls
back to limits of 1, so no scale is ever empty and nothing divides by zero.
"""

from __future__ import annotations

from typing import Literal

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, LogNorm, Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from ._arrays import as_array

Mode = Literal["signed", "magnitude"]
MODES: tuple[str, ...] = ("signed", "magnitude")
SIGNED_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "viridis"
DYNAMIC_RANGE = 1e4


def _check_mode(mode: str) -> Mode:
    """Return `mode` if it is `"signed"` or `"magnitude"`, else raise a ValueError listing both."""
    if mode not in MODES:
        raise ValueError(f"unknown colour mode {mode!r}; valid modes: {', '.join(MODES)}.")
    return mode  # type: ignore[return-value]


def _peak(values: ArrayLike) -> float:
    """Largest finite `|value|`, or 0.0 if there is none."""
    array = np.abs(as_array(values))
    finite = array[np.isfinite(array)]
    return float(finite.max()) if finite.size else 0.0


def signed_norm(values: ArrayLike) -> Normalize:
    """Linear norm with symmetric limits `[-vmax, vmax]`, `vmax` the largest `|value|` (1 if all zero)."""
    vmax = _peak(values) or 1.0
    return Normalize(vmin=-vmax, vmax=vmax)


def magnitude_norm(values: ArrayLike, dynamic_range: float = DYNAMIC_RANGE) -> LogNorm:
    """Log norm of `|values|` from `vmax / dynamic_range` to `vmax` (`vmax = 1` if all zero)."""
    if not dynamic_range > 1:
        raise ValueError(f"dynamic_range must be > 1, got {dynamic_range}.")
    vmax = _peak(values) or 1.0
    return LogNorm(vmin=vmax / dynamic_range, vmax=vmax)


def credit_norm(values: ArrayLike, mode: Mode = "signed") -> Normalize:
    """The norm of a credit map: `signed_norm` or `magnitude_norm` per `mode`."""
    return signed_norm(values) if _check_mode(mode) == "signed" else magnitude_norm(values)


def credit_cmap(mode: Mode = "signed", cmap: str | Colormap | None = None) -> Colormap:
    """The colormap of a credit map: `cmap` if given, else `RdBu_r` (signed) or `viridis` (magnitude)."""
    if isinstance(cmap, Colormap):
        return cmap
    default = SIGNED_CMAP if _check_mode(mode) == "signed" else MAGNITUDE_CMAP
    return matplotlib.colormaps[cmap or default]


def display_values(values: ArrayLike, norm: Normalize) -> np.ndarray:
    """Credit as drawn: unchanged for a linear norm; `|credit|` clipped to `[vmin, vmax]` for a `LogNorm`."""
    array = as_array(values)
    if isinstance(norm, LogNorm):
        return np.clip(np.abs(array), norm.vmin, norm.vmax)
    return array


def credit_colors(values: ArrayLike, norm: Normalize, cmap: Colormap) -> np.ndarray:
    """RGBA colours `[..., 4]` in [0, 1] of credit values under a norm and colormap."""
    return np.asarray(cmap(norm(display_values(values, norm))))


def colorbar_label(mode: Mode) -> str:
    """Label of a colourbar or axis that shows credit in `mode`."""
    return "credit" if _check_mode(mode) == "signed" else "|credit| (log scale)"


def text_color(rgba: ArrayLike) -> str:
    """`"black"` or `"white"`, whichever reads better on a background colour (by its luminance)."""
    red, green, blue = as_array(rgba)[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def add_colorbar(figure: Figure, norm: Normalize, cmap: Colormap, mode: Mode, **kwargs) -> Colorbar:
    """An opaque colourbar of `norm` and `cmap` labelled for `mode` (log scales get decade ticks only).

    Args:
        figure: the figure to draw it in.
        norm: the credit norm it shows.
        cmap: the colormap it shows.
        mode: `"signed"` or `"magnitude"`, for the default label.
        **kwargs: passed to `Figure.colorbar` (`ax=`, `cax=`, `label=`, `shrink=`, ...).
    """
    kwargs.setdefault("label", colorbar_label(mode))
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), **kwargs)
    if isinstance(norm, LogNorm):
        bar.minorticks_off()
    return bar
