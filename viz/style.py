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


def add_title(figure: Figure, title: str | None) -> None:
    """Give `figure` its title (if any), wrapped at the figure's width so a long one is never cut off."""
    if title:
        figure.suptitle(title, parse_math=False, wrap=True)


def format_probability(prob: float) -> str:
    """A probability as a percentage with one decimal, `f"{prob:.1%}"`, as the app's table shows it.

    Values that would round to 0.0% show as `"< 0.1%"` and those that would round to 100.0% as `"> 99.9%"`,
    so a small probability is never shown as zero and an uncertain one never as certain.
    """
    if prob < 0.0005:
        return "< 0.1%"
    if prob >= 0.9995:
        return "> 99.9%"
    return f"{prob:.1%}"


def figure_title(model: str, label: str, prob: float, method: str = "") -> str:
    """A title naming the model, the class, its probability (`format_probability`) and the method:
    `"vit — Ankle boot (p = 97.0%), contribution"`, or `"vit — Bag (p < 0.1%)"`."""
    head = f"{model} — " if model else ""
    tail = f", {method}" if method else ""
    shown = format_probability(prob)
    relation = shown if shown[0] in "<>" else f"= {shown}"
    return f"{head}{label} (p {relation}){tail}"
