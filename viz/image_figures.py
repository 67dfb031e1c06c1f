"""Figures of image credit: the grid of per-depth patch maps, one depth's map, and the overlay on the image.

The credit of each patch (Heinsen 2022, Section 4 and Appendix A: the end-to-end credit of a routing head
over the hidden states of every depth) is drawn as the image's patch grid, one cell per patch, so the most
credited patch is a block of the colormap's extreme colour. The overlay sums the depths, upsamples the grid
to the image's size and draws it over the image (in grey or colour) with adjustable opacity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from PIL import Image

from ._arrays import as_array
from .colors import Mode, add_colorbar, credit_cmap, credit_norm, display_values
from .images import as_rgb, to_grey, upsample
from .style import COLUMN_WIDTH, finish, new_figure, paper_style


def depth_grid_figure(
    grids: ArrayLike,
    *,
    mode: Mode = "signed",
    shared_scale: bool = True,
    depths: Sequence[int | str] | None = None,
    title: str | None = None,
    ncols: int | None = None,
    panel_size: float = 1.25,
    cmap: str | Colormap | None = None,
) -> Figure:
    """One patch map per depth, in a grid of panels, with a colourbar.

    Args:
        grids: `[d_depth, rows, cols]` credit of each patch at each depth (`ImageExplanation.grid(cls,
            per_depth=True)[sample]` or `RawCredit.grid(per_depth=True)`).
        mode: `"signed"` (diverging, symmetric limits) or `"magnitude"` (|credit|, log scale).
        shared_scale: one colour scale and colourbar for all panels (comparable across depths), or one per
            panel (each depth's pattern at full contrast).
        depths: panel names, one per depth. Default: 0, 1, ... (0 is the embedding output).
        title: figure title, such as `RawCredit.title`.
        ncols: panels per row. Default: about the square root of `d_depth`.
        panel_size: side of each panel in inches.
        cmap: colormap instead of the mode's default.
    """
    values = as_array(grids, ndim=3, name="grids")  # [lrc]
    n_depth = values.shape[0]
    names = _depth_names(depths, n_depth)
    ncols = max(1, min(ncols or math.ceil(math.sqrt(n_depth)), n_depth))
    nrows = math.ceil(n_depth / ncols)
    colormap = credit_cmap(mode, cmap)
    bar_width = 0.7 if shared_scale else 0.45 * ncols
    panel_height = panel_size * min(2.0, values.shape[1] / max(values.shape[2], 1))
    height = nrows * (panel_height + 0.2) + (0.3 if title else 0.05)
    with paper_style():
        figure = new_figure(ncols * panel_size + bar_width, height)
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[n_depth:]:
            ax.remove()
        shared = credit_norm(values, mode)
        for ax, grid, name in zip(axes, values, names):
            norm = shared if shared_scale else credit_norm(grid, mode)
            _draw_grid(ax, grid, norm, colormap)
            ax.set_title(f"depth {name}", pad=2)
            if not shared_scale:
                add_colorbar(figure, norm, colormap, mode, ax=ax, shrink=0.8, pad=0.02, label="")
        if shared_scale:
            add_colorbar(figure, shared, colormap, mode, ax=list(axes[:n_depth]))
        if title:
            figure.suptitle(title, parse_math=False)
        return finish(figure)


def depth_map_figure(
    grid: ArrayLike,
    *,
    mode: Mode = "signed",
    depth: int | str | None = None,
    title: str | None = None,
    width: float = COLUMN_WIDTH * 0.75,
    cmap: str | Colormap | None = None,
) -> Figure:
    """The patch map of a single depth (or of the sum over depths), with a colourbar.

    Args:
        grid: `[rows, cols]` credit of each patch.
        mode: `"signed"` or `"magnitude"`.
        depth: the depth shown, named in the axes title. Default: no axes title.
        title: figure title.
        width: figure width in inches (the height follows the grid's aspect).
        cmap: colormap instead of the mode's default.
    """
    values = as_array(grid, ndim=2, name="grid")  # [rc]
    colormap = credit_cmap(mode, cmap)
    rows, cols = values.shape
    height = (width - 0.8) * rows / cols + 0.3 + (0.3 if title else 0.0) + (0.2 if depth is not None else 0.0)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        norm = credit_norm(values, mode)
        _draw_grid(ax, values, norm, colormap)
        if depth is not None:
            ax.set_title(f"depth {depth}", pad=2)
        add_colorbar(figure, norm, colormap, mode, ax=ax)
        if title:
            figure.suptitle(title, parse_math=False)
        return finish(figure)


def overlay_figure(
    image: ArrayLike | Image.Image,
    grid: ArrayLike,
    *,
    alpha: float = 0.55,
    grey: bool = True,
    smooth: bool = True,
    mode: Mode = "signed",
    title: str | None = None,
    width: float = COLUMN_WIDTH * 0.75,
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
    height = (width - 0.8) * img_h / img_w + 0.1 + (0.3 if title else 0.0)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        if grey:
            ax.imshow(to_grey(rgb), cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
        else:
            ax.imshow(rgb, interpolation="antialiased")
        norm = credit_norm(values, mode)
        layer = upsample(display_values(values, norm), (img_h, img_w), smooth=smooth)  # [hw]
        ax.imshow(layer, cmap=colormap, norm=norm, alpha=alpha, interpolation="antialiased")
        ax.set_axis_off()
        add_colorbar(figure, norm, colormap, mode, ax=ax)
        if title:
            figure.suptitle(title, parse_math=False)
        return finish(figure)


def _draw_grid(ax: Axes, grid: ArrayLike, norm: Normalize, cmap: Colormap) -> None:
    """Draw a patch grid, one uniform cell per patch (patch `(r, c)` centred at data `(c, r)`), framed."""
    ax.imshow(display_values(grid, norm), cmap=cmap, norm=norm, interpolation="nearest")
    ax.xaxis.set_visible(False)  # no ticks; hiding the axes (not the frame) also keeps the layout fast
    ax.yaxis.set_visible(False)


def _depth_names(depths: Sequence[int | str] | None, n_depth: int) -> list[str]:
    if depths is None:
        return [str(d) for d in range(n_depth)]
    if len(depths) != n_depth:
        raise ValueError(f"got {len(depths)} depth names for {n_depth} depths.")
    return [str(d) for d in depths]
