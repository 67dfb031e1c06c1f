"""Colour scales of credit: signed credit on a diverging map centred at zero, magnitude on a log scale.

Also the colourbar that shows either scale.

Signed credit uses a diverging colormap (`RdBu_r`) with symmetric limits `vmin = -vmax`, so white means zero
credit whatever the data. The magnitude view shows `|credit|` with a `LogNorm` whose floor is `vmax / 1e4`
(values below the floor, zeros included, are drawn in the floor's colour). An all-zero or non-finite map falls
back to limits of 1, so no scale is ever empty and nothing divides by zero.

Every norm takes an optional `vmax`, the `|credit|` at the end of the scale, so figures of different maps
(two classes side by side, say) can share one scale: `shared_limit` gives the limit that covers them all.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def _limit(values: ArrayLike, vmax: float | None) -> float:
    """The end of the scale: `vmax` if given (it must be positive and finite), else the largest `|value|`
    (1 if all zero)."""
    if vmax is None:
        return _peak(values) or 1.0
    if not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a positive finite number, got {vmax}.")
    return float(vmax)


def signed_norm(values: ArrayLike, vmax: float | None = None) -> Normalize:
    """Linear norm with symmetric limits `[-vmax, vmax]`; by default `vmax` is the largest `|value|` (1 if
    all zero)."""
    limit = _limit(values, vmax)
    return Normalize(vmin=-limit, vmax=limit)


def magnitude_norm(
    values: ArrayLike, dynamic_range: float = DYNAMIC_RANGE, vmax: float | None = None
) -> LogNorm:
    """Log norm of `|values|` from `vmax / dynamic_range` to `vmax`; by default `vmax` is the largest
    `|value|` (1 if all zero)."""
    if not dynamic_range > 1:
        raise ValueError(f"dynamic_range must be > 1, got {dynamic_range}.")
    limit = _limit(values, vmax)
    return LogNorm(vmin=limit / dynamic_range, vmax=limit)


def credit_norm(values: ArrayLike, mode: Mode = "signed", vmax: float | None = None) -> Normalize:
    """The norm of a credit map: `signed_norm` or `magnitude_norm` per `mode`, ending at `vmax` if given."""
    if _check_mode(mode) == "signed":
        return signed_norm(values, vmax)
    return magnitude_norm(values, vmax=vmax)


def shared_limit(arrays: Iterable[ArrayLike], mode: Mode = "signed") -> float:
    """The `vmax` that puts several credit maps on one colour scale: the largest `|credit|` of them all.

    Both modes end their scale at the largest `|credit|` (the magnitude scale then starts `DYNAMIC_RANGE`
    times lower), so the limit is the same for both; `mode` is checked so a wrong one fails here. An all-zero
    or empty set gives 1, as a single map would.

    Args:
        arrays: the credit maps, any shapes (numpy arrays, tensors or nested sequences).
        mode: `"signed"` or `"magnitude"`.
    """
    _check_mode(mode)
    return max((_peak(values) for values in arrays), default=0.0) or 1.0


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
