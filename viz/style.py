"""Figure style for papers: sizes in inches, fonts in points, and new figures on the Agg canvas.

Figures are sized for a two-column paper (3.5 in column, 7 in page) with 7-9 pt text, so they are readable
when placed at their natural width. Builders make `matplotlib.figure.Figure` objects directly (no pyplot), so
nothing needs closing and no global figure state is touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLUMN_WIDTH = 3.5
PAGE_WIDTH = 7.0
FONT_SIZE = 8.0
TICK_SIZE = 7.0
TITLE_SIZE = 9.0

_RC = {
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "axes.linewidth": 0.6,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "figure.titlesize": TITLE_SIZE,
    "figure.dpi": 100,
    "image.interpolation": "nearest",
}


@contextmanager
def paper_style() -> Iterator[None]:
    """Context in which figures are built with the paper font sizes and line widths."""
    with matplotlib.rc_context(_RC):
        yield


def new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    """A new figure of `width` x `height` inches on an Agg canvas (so `fig.canvas.buffer_rgba()` works).

    Args:
        width: width in inches.
        height: height in inches.
        constrained: use matplotlib's constrained layout (labels, titles and colourbars do not overlap).
    """
    figure = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def finish(figure: Figure) -> Figure:
    """Fix the tick style of every axes, then lay the figure out once and keep that layout.

    Ticks that matplotlib creates later at draw time keep the paper style. Constrained layout does not reach
    a fixed point (each draw starts from the last one's positions), so it runs once here and is then turned
    off: every later draw, display or export of the figure gives the same image.
    """
    for ax in figure.axes:
        ax.tick_params(labelsize=TICK_SIZE, width=0.6, length=2.5)
    if figure.get_layout_engine() is not None:
        figure.draw_without_rendering()
        figure.set_layout_engine("none")
    return figure


def figure_title(model: str, label: str, prob: float, method: str = "") -> str:
    """A title naming the model, the class, its probability and the method: `"vit — Ankle boot (p = 0.97),
    contribution"`."""
    head = f"{model} — " if model else ""
    tail = f", {method}" if method else ""
    return f"{head}{label} (p = {prob:.2f}){tail}"
