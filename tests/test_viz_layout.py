"""Figure layout as promised: one-column (3.5 in) or page (7 in) widths, no empty panels, legible text at a
column's width, and titles whose probability reads as the app's table does."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.text import Text

from creditlens.attribution.evaluation import EvaluationResult
from creditlens.viz import (
    RawCredit,
    credit_cmap,
    depth_grid_figure,
    depth_map_figure,
    depth_position_figure,
    figure_title,
    format_probability,
    overlay_figure,
    sentence_figure,
    token_figure,
)
from creditlens.viz.evaluation_figures import evaluation_curves

from _viz_helpers import assert_color, pixel_at, render

pytestmark = pytest.mark.filterwarnings("error")

TITLE = "fashion-mnist-vit — Ankle boot (p = 97.0%), contribution"


def _credit(*shape: int) -> np.ndarray:
    return np.random.default_rng(3).uniform(-1.0, 1.0, size=shape)


def _evaluation() -> EvaluationResult:
    x = [0.0, 0.5, 1.0]
    curves = {name: [1.0, 0.5, 0.2] for name in ("comprehensiveness", "sufficiency", "morf", "lerf")}
    return EvaluationResult(
        "rotten-tomatoes-minilm", "text", 4, {}, curves={"routing": curves}, curve_x=dict.fromkeys(curves, x)
    )


_LONG_TEXT = ("a rather long review of a film that goes on " * 8).split()
_BUILDERS = {
    "overlay": lambda: overlay_figure(np.zeros((28, 28)), _credit(14, 14), title=TITLE),
    "depth_grid_2": lambda: depth_grid_figure(_credit(2, 14, 14), title=TITLE),
    "depth_grid_7": lambda: depth_grid_figure(_credit(7, 14, 14), title=TITLE),
    "depth_grid_13": lambda: depth_grid_figure(_credit(13, 14, 14), title=TITLE),
    "depth_grid_7_per_panel": lambda: depth_grid_figure(_credit(7, 14, 14), shared_scale=False),
    "depth_grid_7_image": lambda: depth_grid_figure(_credit(7, 14, 14), image=np.zeros((28, 28))),
    "depth_map": lambda: depth_map_figure(_credit(14, 14), depth=3, title=TITLE),
    "depth_position": lambda: depth_position_figure(_credit(196, 7), row_length=14, title=TITLE),
    "depth_tokens": lambda: depth_position_figure(_credit(12, 7), position_labels=list("abcdefghijkl")),
    "tokens_short": lambda: token_figure(["A", "fine", "film"], _credit(3), title=TITLE),
    "tokens_long": lambda: token_figure(_LONG_TEXT, _credit(len(_LONG_TEXT)), title=TITLE),
    "sentences": lambda: sentence_figure(["A fine film.", "Not bad!"], _credit(2), title=TITLE),
    "evaluation": lambda: evaluation_curves(_evaluation()),
}


@pytest.mark.parametrize("name", list(_BUILDERS))
def test_every_figure_is_one_column_or_one_page_wide(name: str) -> None:
    figure = _BUILDERS[name]()
    assert figure.get_size_inches()[0] in (3.5, 7.0)


@pytest.mark.parametrize(
    ("n_depth", "width"), [(2, None), (4, None), (7, None), (7, 3.5), (13, None), (13, 3.5)]
)
def test_depth_grid_has_one_framed_panel_per_depth_and_no_empty_panel(
    n_depth: int, width: float | None
) -> None:
    figure = depth_grid_figure(_credit(n_depth, 5, 5), width=width)
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.get_title().startswith("depth ")]
    assert [ax.get_title() for ax in panels] == [f"depth {d}" for d in range(n_depth)]
    others = [ax for ax in figure.axes if ax.get_visible() and ax not in panels]
    assert len(others) == 1  # the colourbar: nothing else is drawn, so no empty panel
    assert all(len(ax.images) == 1 for ax in panels)
    render(figure)
    boxes = [ax.get_position() for ax in panels]
    rows = sorted({round(b.y0, 3) for b in boxes}, reverse=True)
    per_row = [[b for b in boxes if round(b.y0, 3) == y] for y in rows]
    centres = [(min(b.x0 for b in row) + max(b.x1 for b in row)) / 2 for row in per_row]
    assert centres == pytest.approx([centres[0]] * len(rows), abs=0.01)  # a shorter last row is centred


def test_depth_grid_draws_every_map_over_the_image() -> None:
    grids = np.zeros((7, 4, 4))  # [lrc]
    for depth in range(7):
        grids[depth, 0, 0] = depth + 1.0  # a top patch at the top left, away from the probed pixels
    image = np.zeros((32, 32), dtype=np.uint8)
    image[:, 16:] = 255  # black left half, white right half
    figure = depth_grid_figure(grids, image=image, alpha=0.5, smooth=False)
    white_credit = np.asarray(credit_cmap("signed")(0.5))  # zero credit on the signed scale
    for depth in range(7):
        ax = next(a for a in figure.axes if a.get_title() == f"depth {depth}")
        assert_color(pixel_at(figure, ax, 4, 28), 0.5 * white_credit)  # over black
        assert_color(pixel_at(figure, ax, 28, 28), 0.5 * white_credit + 0.5)  # over white


def _texts(figure) -> list[Text]:
    render(figure)  # ticks are made at draw time
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _assert_apart(labels: list[Text]) -> None:
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0, "tick labels overlap"


def test_depth_x_patch_stays_legible_at_a_column_width() -> None:
    figure = depth_position_figure(
        _credit(196, 7),
        row_length=14,
        xlabel="patch (raster order, 14 rows x 14 columns)",
        title=TITLE,
        width=3.5,
    )
    assert min(t.get_fontsize() for t in _texts(figure)) >= 7.0
    labels = [t for t in figure.axes[0].get_xticklabels() if t.get_text()]
    numbers = [int(t.get_text()) for t in labels]
    assert len(numbers) >= 4 and all(n % 14 == 0 for n in numbers)  # at row boundaries, thinned
    _assert_apart(labels)
    figure_width = figure.get_figwidth() * figure.dpi
    assert all(
        0 <= t.get_window_extent().x0 and t.get_window_extent().x1 <= figure_width for t in _texts(figure)
    )


def test_depth_x_token_thins_its_labels_instead_of_shrinking_them() -> None:
    tokens = [f"word{i}" for i in range(60)]
    figure = depth_position_figure(_credit(60, 7), position_labels=tokens, xlabel="token", width=3.5)
    assert min(t.get_fontsize() for t in _texts(figure)) >= 7.0
    labels = [t for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert labels[0].get_text() == "word0" and 4 <= len(labels) < 60
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 <= right.x0  # rotated labels stand apart


@pytest.mark.parametrize(
    ("prob", "shown"),
    [
        (0.97, "97.0%"),
        (0.004, "0.4%"),
        (0.0123, "1.2%"),
        (0.0001, "< 0.1%"),
        (0.0, "< 0.1%"),
        (0.99999, "> 99.9%"),
    ],
)
def test_probabilities_read_as_percentages_like_the_app_table(prob: float, shown: str) -> None:
    assert format_probability(prob) == shown


def test_titles_show_small_probabilities_as_the_table_does() -> None:
    assert figure_title("vit", "Bag", 0.004, "paper") == "vit — Bag (p = 0.4%), paper"
    assert figure_title("vit", "Bag", 0.00002) == "vit — Bag (p < 0.1%)"
    # Scores whose softmax gives the second class 0.4%: log(0.004 / 0.996) below the first.
    raw = RawCredit(
        "image",
        model="vit",
        labels=("Coat", "Bag"),
        cls=1,
        scores=np.array([0.0, np.log(0.004 / 0.996)]),
        credit=np.zeros((4, 2)),
        depths=(0, 1),
        grid_size=(2, 2),
    )
    assert raw.title == "vit — Bag (p = 0.4%)"
