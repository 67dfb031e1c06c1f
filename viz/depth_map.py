"""The depth x position map (the figure of Heinsen 2022): rows are depths, columns are positions.

Each cell is the credit one position's hidden state at one depth gets for a class: patches in raster order
for images, tokens in reading order for texts. Depth 0 (the embedding output) is the bottom row.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from ._arrays import as_array
from .colors import Mode, add_colorbar, credit_cmap, credit_norm, display_values
from .style import FONT_SIZE, PAGE_WIDTH, TICK_SIZE, finish, new_figure, paper_style

MAX_LABELS = 64


def depth_position_figure(
    credit: ArrayLike,
    *,
    position_labels: Sequence[str] | None = None,
    depths: Sequence[int | str] | None = None,
    mode: Mode = "signed",
    title: str | None = None,
    xlabel: str = "position",
    width: float = PAGE_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """Credit of every position at every depth as a heatmap: rows = depths, columns = positions.

    Args:
        credit: `[n_pos, d_depth]` credit of each position at each depth (for example
            `Explanation.credit_of(cls)[sample]`, or `RawCredit.patch_credit()`).
        position_labels: a name per position (token texts), shown under the columns when there are at most
            64 positions; otherwise the columns are numbered.
        depths: a name per depth. Default: 0, 1, ... (0 is the embedding output).
        mode: `"signed"` or `"magnitude"`.
        title: figure title.
        xlabel: name of the horizontal axis, such as `"patch (raster order)"` or `"token"`.
        width: figure width in inches.
        cmap: colormap instead of the mode's default.
    """
    values = as_array(credit, ndim=2, name="credit")  # [pl]
    n_pos, n_depth = values.shape
    if position_labels is not None and len(position_labels) != n_pos:
        raise ValueError(f"got {len(position_labels)} position labels for {n_pos} positions.")
    if depths is not None and len(depths) != n_depth:
        raise ValueError(f"got {len(depths)} depth names for {n_depth} depths.")
    labelled = position_labels is not None and 0 < n_pos <= MAX_LABELS
    label_height = max((len(s) for s in position_labels), default=0) if labelled else 0
    height = 0.9 + 0.13 * n_depth + min(label_height, 16) * TICK_SIZE * 0.6 / 72 + (0.25 if title else 0.0)
    colormap = credit_cmap(mode, cmap)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        norm = credit_norm(values, mode)
        ax.imshow(
            display_values(values.T, norm),
            cmap=colormap,
            norm=norm,
            aspect="auto",
            origin="lower",
            interpolation="nearest",
        )
        step = max(1, -(-n_depth // 13))  # at most ~13 depth ticks
        ax.set_yticks(range(0, n_depth, step))
        ax.set_yticklabels([str(d) for d in (depths or range(n_depth))][::step])
        ax.set_ylabel("depth")
        if labelled:
            ax.set_xticks(range(n_pos))
            ax.set_xticklabels([_short(s) for s in position_labels], rotation=90, parse_math=False)
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
        add_colorbar(figure, norm, colormap, mode, ax=ax, pad=0.01, fraction=0.04)
        if title:
            figure.suptitle(title, parse_math=False)
        return finish(figure)


def _short(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
