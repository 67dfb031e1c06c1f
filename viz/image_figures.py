"""Figures of image credit: the grid of per-depth patch maps, one depth's map, and the overlay on the image.

The credit of each patch (Heinsen 2022, Section 4 and Appendix A: the end-to-end credit of a routing head
over the hidden states of every depth) is drawn as the image's patch grid, one cell per patch, so the most
credited patch is a block of the colormap's extreme colour. The overlay sums the depths, upsamples the grid
to the image's size and draws it over the image (in grey or colour) with adjustable opacity; the per-depth
grid can draw each depth's map over the image in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from PIL import Image

from ._arrays import as_array
from .colors import Mode, add_colorbar, credit_cmap, credit_norm, display_values
from .images import as_rgb, to_grey, upsample
from .style import COLUMN_WIDTH, PAGE_WIDTH, add_title, finish, new_figure, paper_style

_MIN_PANEL = 0.65  # inches: the narrowest panel of a per-depth grid laid out by default


def depth_grid_figure(
    grids: ArrayLike,
    *,
    image: ArrayLike | Image.Image | None = None,
    alpha: float = 0.55,
    grey: bool = True,
    smooth: bool = True,
    mode: Mode = "signed",
    shared_scale: bool = True,
    vmax: float | None = None,
    depths: Sequence[int | str] | None = None,
    title: str | None = None,
    ncols: int | None = None,
    width: float | None = None,
    cmap: str | Colormap | None = None,
) -> Figure:
    """One patch map per depth, in rows of panels (the last row centred, no empty panels), with a colourbar.

    Args:
        grids: `[d_depth, rows, cols]` credit of each patch at each depth (`ImageExplanation.grid(cls,
            per_depth=True)[sample]` or `RawCredit.grid(per_depth=True)`).
        image: the input image, drawn under every map, which is then upsampled to the image's size and drawn
            with opacity `alpha` (as `overlay_figure` draws the sum). Default: the maps alone, one cell a
            patch.
        alpha: with `image`: opacity of the credit layer, 0 (image only) to 1 (credit only).
        grey: with `image`: draw it in grey (the colours then belong to the credit alone) or in colour.
        smooth: with `image`: bilinear upsampling, or nearest (each patch a block).
        mode: `"signed"` (diverging, symmetric limits) or `"magnitude"` (|credit|, log scale).
        shared_scale: one colour scale and colourbar for all panels (comparable across depths), or one per
            panel (each depth's pattern at full contrast). A given `vmax` always gives one shared scale.
        vmax: the `|credit|` at the end of the colour scale (`colors.shared_limit` of several figures puts
            them on one scale). Default: the largest `|credit|` drawn.
        depths: panel names, one per depth. Default: 0, 1, ... (0 is the embedding output).
        title: figure title, such as `RawCredit.title`.
        ncols: panels per row. Default: as many as fit at about 0.65 in each, rows balanced.
        width: figure width in inches. Default: one column (3.5 in) for up to 3 depths, else a page (7 in).
        cmap: colormap instead of the mode's default.
    """
    values = as_array(grids, ndim=3, name="grids")  # [lrc]
    n_depth = values.shape[0]
    names = _depth_names(depths, n_depth)
    shared_scale = shared_scale or vmax is not None
    if width is None:
        width = COLUMN_WIDTH if n_depth <= 3 else PAGE_WIDTH
    bar_width = 0.75 if shared_scale else 0.0
    if ncols is None:
        fit = max(1, int((width - bar_width) / _MIN_PANEL))
        ncols = math.ceil(n_depth / math.ceil(n_depth / fit))  # balanced rows, the last one at most as long
    ncols = max(1, min(ncols, n_depth))
    nrows = math.ceil(n_depth / ncols)
    rgb = None if image is None else as_rgb(image)  # [hw3]
    if rgb is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    shape = rgb.shape[:2] if rgb is not None else values.shape[1:]
    aspect = min(2.0, shape[0] / max(shape[1], 1))
    panel_width = (width - bar_width) / ncols - (0.0 if shared_scale else 0.5)
    height = nrows * (panel_width * aspect + 0.25) + (0.45 if title else 0.1)
    colormap = credit_cmap(mode, cmap)
    with paper_style():
        figure = new_figure(width, height)
        axes = _centred_panels(figure, n_depth, nrows, ncols)
        shared = credit_norm(values, mode, vmax)
        for ax, grid, name in zip(axes, values, names):
            norm = shared if shared_scale else credit_norm(grid, mode)
            if rgb is None:
                _draw_grid(ax, grid, norm, colormap)
            else:
                _draw_over_image(ax, rgb, grid, norm, colormap, alpha=alpha, grey=grey, smooth=smooth)
            ax.set_title(f"depth {name}", pad=2)
            if not shared_scale:
                add_colorbar(figure, norm, colormap, mode, ax=ax, shrink=0.8, pad=0.02, label="")
        if shared_scale:
            add_colorbar(figure, shared, colormap, mode, ax=axes)
        add_title(figure, title)
        return finish(figure)


def depth_map_figure(
    grid: ArrayLike,
    *,
    mode: Mode = "signed",
    vmax: float | None = None,
    depth: int | str | None = None,
    title: str | None = None,
    width: float = COLUMN_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """The patch map of a single depth (or of the sum over depths), with a colourbar.

    Args:
        grid: `[rows, cols]` credit of each patch.
        mode: `"signed"` or `"magnitude"`.
        vmax: the `|credit|` at the end of the colour scale (see `colors.shared_limit`). Default: the
            largest `|credit|` of `grid`.
        depth: the depth shown, named in the axes title. Default: no axes title.
        title: figure title.
        width: figure width in inches (the height follows the grid's aspect).
        cmap: colormap instead of the mode's default.
    """
    values = as_array(grid, ndim=2, name="grid")  # [rc]
    colormap = credit_cmap(mode, cmap)
    rows, cols = values.shape
    # The map is kept near the size it had in a narrower figure; the rest of the width is margin.
    side = min(width - 0.8, 1.9)
    height = side * rows / cols + 0.3 + (0.45 if title else 0.0) + (0.2 if depth is not None else 0.0)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        norm = credit_norm(values, mode, vmax)
        _draw_grid(ax, values, norm, colormap)
        if depth is not None:
            ax.set_title(f"depth {depth}", pad=2)
        add_colorbar(figure, norm, colormap, mode, ax=ax)
        add_title(figure, title)
        return finish(figure)


def overlay_figure(
    image: ArrayLike | Image.Image,
    grid: ArrayLike,
    *,
    alpha: float = 0.55,
    grey: bool = True,
    smooth: bool = True,
    mode: Mode = "signed",
    vmax: float | None = None,
    title: str | None = None,
    width: float = COLUMN_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """Patch credit (usually summed over depths) upsampled to the image's size and drawn over the image.

    Args:
        image: the input image (see `images.as_rgb`: PIL, uint8 `[H, W, 3]`, or pixels `[3, H, W]`).
        grid: `[rows, cols]` credit of each patch (`ImageExplanation.grid(cls)[sample]`).
        alpha: opacity of the credit layer, 0 (image only) to 1 (credit only).
        grey: draw the image in grey (the colours then belong to the credit alone) or in colour.
        smooth: bilinear upsampling, or nearest (each patch a block).
        mode: `"signed"` or `"magnitude"`.
        vmax: the `|credit|` at the end of the colour scale (see `colors.shared_limit`). Default: the
            largest `|credit|` of `grid`.
        title: figure title.
        width: figure width in inches (the height follows the image's aspect).
        cmap: colormap instead of the mode's default.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    rgb = as_rgb(image)  # [hw3]
    values = as_array(grid, ndim=2, name="grid")  # [rc]
    colormap = credit_cmap(mode, cmap)
    img_h, img_w = rgb.shape[:2]
    side = min(width - 0.8, 1.9)  # as in `depth_map_figure`
    height = side * img_h / img_w + 0.1 + (0.45 if title else 0.0)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        norm = credit_norm(values, mode, vmax)
        _draw_over_image(ax, rgb, values, norm, colormap, alpha=alpha, grey=grey, smooth=smooth)
        ax.set_axis_off()  # a single image needs no frame
        add_colorbar(figure, norm, colormap, mode, ax=ax)
        add_title(figure, title)
        return finish(figure)


def _draw_grid(ax: Axes, grid: ArrayLike, norm: Normalize, cmap: Colormap) -> None:
    """Draw a patch grid, one uniform cell per patch (patch `(r, c)` centred at data `(c, r)`), framed."""
    ax.imshow(display_values(grid, norm), cmap=cmap, norm=norm, interpolation="nearest")
    ax.xaxis.set_visible(False)  # no ticks; hiding the axes (not the frame) also keeps the layout fast
    ax.yaxis.set_visible(False)


def _draw_over_image(
    ax: Axes,
    rgb: np.ndarray,
    grid: ArrayLike,
    norm: Normalize,
    cmap: Colormap,
    *,
    alpha: float,
    grey: bool,
    smooth: bool,
) -> None:
    """Draw the image `[H, W, 3]` (grey or colour), then the patch grid upsampled to it with opacity `alpha`."""
    img_h, img_w = rgb.shape[:2]
    if grey:
        ax.imshow(to_grey(rgb), cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
    else:
        ax.imshow(rgb, interpolation="antialiased")
    layer = upsample(display_values(grid, norm), (img_h, img_w), smooth=smooth)  # [hw]
    ax.imshow(layer, cmap=cmap, norm=norm, alpha=alpha, interpolation="antialiased")
    ax.xaxis.set_visible(False)  # framed like the maps without an image
    ax.yaxis.set_visible(False)


def _centred_panels(figure: Figure, n_panels: int, nrows: int, ncols: int) -> list[Axes]:
    """`n_panels` axes in rows of `ncols`, the last (shorter) row centred, so no slot is left empty.

    Each panel spans two columns of a grid twice as fine, so a row short by one panel shifts by half a panel.
    """
    spec = figure.add_gridspec(nrows, 2 * ncols)
    axes = []
    for i in range(n_panels):
        row, col = divmod(i, ncols)
        in_row = min(ncols, n_panels - row * ncols)
        start = ncols - in_row + 2 * col
        axes.append(figure.add_subplot(spec[row, start : start + 2]))
    return axes


def _depth_names(depths: Sequence[int | str] | None, n_depth: int) -> list[str]:
    if depths is None:
        return [str(d) for d in range(n_depth)]
    if len(depths) != n_depth:
        raise ValueError(f"got {len(depths)} depth names for {n_depth} depths.")
    return [str(d) for d in depths]
