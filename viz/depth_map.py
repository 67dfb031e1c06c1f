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
from .style import FONT_SIZE, PAGE_WIDTH, TICK_SIZE, add_title, finish, new_figure, paper_style

_AXIS_MARGIN = 0.95  # inches of the figure's width outside the map: depth label, ticks and colourbar
_DIGIT = 0.6  # width of a digit, in units of the font size


def depth_position_figure(
    credit: ArrayLike,
    *,
    position_labels: Sequence[str] | None = None,
    depths: Sequence[int | str] | None = None,
    mode: Mode = "signed",
    vmax: float | None = None,
    title: str | None = None,
    xlabel: str = "position",
    row_length: int | None = None,
    width: float = PAGE_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """Credit of every position at every depth as a heatmap: rows = depths, columns = positions.

    Tick labels keep the paper font size at any width: when they would overlap, only every k-th position is
    labelled (the smallest k at which they fit) instead of shrinking the text.

    Args:
        credit: `[n_pos, d_depth]` credit of each position at each depth (for example
            `Explanation.credit_of(cls)[sample]`, or `RawCredit.patch_credit()`).
        position_labels: a name per position (token texts), shown under the columns (every k-th one if they
            do not all fit). Default: the columns are numbered.
        depths: a name per depth. Default: 0, 1, ... (0 is the embedding output).
        mode: `"signed"` or `"magnitude"`.
        vmax: the `|credit|` at the end of the colour scale (see `colors.shared_limit`). Default: the
            largest `|credit|` of `credit`.
        title: figure title.
        xlabel: name of the horizontal axis, such as `"patch (raster order)"` or `"token"`.
        row_length: positions per row of a patch grid: numbered columns are then labelled at row
            boundaries (every k-th row), with the number of patches before the boundary.
        width: figure width in inches.
        cmap: colormap instead of the mode's default.
    """
    values = as_array(credit, ndim=2, name="credit")  # [pl]
    n_pos, n_depth = values.shape
    if position_labels is not None and len(position_labels) != n_pos:
        raise ValueError(f"got {len(position_labels)} position labels for {n_pos} positions.")
    if depths is not None and len(depths) != n_depth:
        raise ValueError(f"got {len(depths)} depth names for {n_depth} depths.")
    if row_length is not None and row_length < 1:
        raise ValueError(f"row_length must be at least 1, got {row_length}.")
    axis_width = max(width - _AXIS_MARGIN, 0.5)
    labelled = position_labels is not None and n_pos > 0
    shown = [_short(s) for s in position_labels] if labelled else []
    label_height = max((len(s) for s in shown), default=0)
    height = 0.9 + 0.13 * n_depth + label_height * TICK_SIZE * 0.6 / 72 + (0.45 if title else 0.0)
    colormap = credit_cmap(mode, cmap)
    with paper_style():
        figure = new_figure(width, height)
        ax = figure.subplots()
        norm = credit_norm(values, mode, vmax)
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
            # Rotated labels stand side by side, one line of text each.
            every = _label_step(n_pos, TICK_SIZE * 1.2 / 72, axis_width, [1])
            ax.set_xticks(range(0, n_pos, every))
            ax.set_xticklabels(shown[::every], rotation=90, parse_math=False)
        else:
            digits = len(str(n_pos))
            pitch = (digits * _DIGIT + 1.0) * TICK_SIZE / 72  # a number and a space of one font size
            if row_length is not None:
                every = _label_step(n_pos + 1, pitch, axis_width, [row_length])
                ticks = range(0, n_pos + 1, every)
                ax.set_xticks([t - 0.5 for t in ticks])  # at the boundary before patch t
                ax.set_xticklabels([str(t) for t in ticks])
            else:
                every = _label_step(n_pos, pitch, axis_width, [1, 2, 5])
                ax.set_xticks(range(0, n_pos, every))
                ax.set_xticklabels([str(t) for t in range(0, n_pos, every)])
        ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
        add_colorbar(figure, norm, colormap, mode, ax=ax, pad=0.01, fraction=0.04)
        add_title(figure, title)
        return finish(figure)


def _label_step(n_slots: int, pitch: float, axis_width: float, bases: Sequence[int]) -> int:
    """The smallest step, a base times 1, 2, 3, ... (or times 1, 10, 100, ... for several bases, as in 1, 2,
    5, 10, 20, 50), at which every step-th of `n_slots` labels, each `pitch` inches wide, fits the axis."""
    fits = max(1, int(axis_width / pitch))  # labels side by side on the axis
    if len(bases) == 1:
        return bases[0] * max(1, -(-n_slots // (bases[0] * fits)))
    scale = 1
    while True:
        for base in bases:
            if -(-n_slots // (base * scale)) <= fits:
                return base * scale
        scale *= 10


def _short(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
