"""Compare mode: figures of different credit drawn with one shared limit give equal credit equal colour."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.colors import LogNorm

from creditlens.app import views
from creditlens.viz import (
    credit_cmap,
    depth_grid_figure,
    depth_map_figure,
    depth_position_figure,
    overlay_figure,
    raw_credit,
    sentence_figure,
    shared_limit,
    token_figure,
    token_html,
)

from _viz_helpers import assert_color, image_explanation, pixel_at, text_explanation

pytestmark = pytest.mark.filterwarnings("error")


def _maps() -> tuple[np.ndarray, np.ndarray]:
    """Two 3 x 4 maps with largest |credit| 1 and 10; both hold 1.0 at patch (1, 2)."""
    small = np.full((3, 4), 0.25)
    small[1, 2] = 1.0
    large = np.full((3, 4), -2.0)
    large[1, 2] = 1.0
    large[0, 0] = 10.0
    return small, large


def _bar_ranges(figure) -> list[tuple[float, float]]:
    """`(vmin, vmax)` of each colourbar's scale in `figure`."""
    bars = [ax._colorbar for ax in figure.axes if getattr(ax, "_colorbar", None) is not None]
    return [(bar.norm.vmin, bar.norm.vmax) for bar in bars]


def test_shared_limit_is_the_largest_magnitude_of_all_maps() -> None:
    small, large = _maps()
    assert shared_limit([small, -large]) == 10.0 and shared_limit([small, large], "magnitude") == 10.0
    assert shared_limit([np.zeros(3), np.zeros((2, 2))]) == 1.0  # all zero: the same fallback as one map
    with pytest.raises(ValueError, match="valid modes"):
        shared_limit([small], "log")


@pytest.mark.parametrize("mode", ["signed", "magnitude"])
def test_maps_on_a_shared_limit_give_the_same_value_the_same_colour(mode: str) -> None:
    small, large = _maps()
    limit = shared_limit([small, large], mode)
    figures = [depth_map_figure(m, mode=mode, vmax=limit) for m in (small, large)]
    colours = [pixel_at(f, f.axes[0], 2, 1) for f in figures]  # (x = column, y = row) of the 1.0 patch
    assert_color(colours[0], colours[1])
    cmap = credit_cmap(mode)
    assert_color(colours[0], cmap(0.55) if mode == "signed" else cmap(0.75))  # 1 of [-10, 10]; log 1e-3..10
    limits = [f.axes[0].images[0].norm for f in figures]
    assert (limits[0].vmin, limits[0].vmax) == (limits[1].vmin, limits[1].vmax)
    assert isinstance(limits[0], LogNorm) == (mode == "magnitude")
    assert _bar_ranges(figures[0]) == _bar_ranges(figures[1])  # the colourbars show the same range
    own = [depth_map_figure(m, mode=mode) for m in (small, large)]  # each on its own scale: they differ
    assert not np.allclose(pixel_at(own[0], own[0].axes[0], 2, 1), pixel_at(own[1], own[1].axes[0], 2, 1))


def test_every_builder_takes_the_limit() -> None:
    small, large = _maps()
    figures = [
        overlay_figure(np.zeros((12, 16)), small, vmax=10.0),
        depth_grid_figure(small[None], vmax=10.0),
        depth_grid_figure(np.stack([small, large]), shared_scale=False, vmax=10.0),
        depth_map_figure(small, vmax=10.0),
        depth_position_figure(small, vmax=10.0),
        token_figure(["a", "b"], [0.5, 1.0], vmax=10.0),
    ]
    for figure in figures:
        # The credit layer is each axes' last image (the overlay draws the photo first).
        norms = {(ax.images[-1].norm.vmin, ax.images[-1].norm.vmax) for ax in figure.axes if ax.images}
        bars = _bar_ranges(figure)
        assert bars and set(bars) == {(-10.0, 10.0)} and norms <= {(-10.0, 10.0)}
    sentences = sentence_figure(["a.", "b."], [0.5, 1.0], vmax=10.0)
    assert sentences.axes[0].get_xlim()[1] == pytest.approx(10.5)  # the bars' axis spans the shared limit


class _Backgrounds(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.colours: dict[str, str] = {}
        self._style = ""

    def handle_starttag(self, tag, attrs) -> None:
        self._style = dict(attrs).get("style", "") if tag == "span" else ""

    def handle_data(self, data) -> None:
        if "background-color" in self._style:
            self.colours[data] = self._style.split("background-color: ")[1][:7]
        self._style = ""


def test_token_html_on_a_shared_limit_colours_equal_credit_alike() -> None:
    pages = [token_html(["good", "film"], credit, vmax=10.0) for credit in ([1.0, 0.5], [1.0, 10.0])]
    colours = []
    for page in pages:
        parser = _Backgrounds()
        parser.feed(page)
        colours.append(parser.colours["good"])
    assert colours[0] == colours[1]


@pytest.mark.parametrize("kind", ["image", "text"])
def test_views_share_one_limit_across_the_compared_classes(kind: str) -> None:
    explanation = image_explanation() if kind == "image" else text_explanation()
    raws = [raw_credit(explanation, 0, cls) for cls in range(2)]
    options = views.ViewOptions()
    for view in views.views(kind):
        if view == "Overlay":
            continue  # these records keep no image
        limit = views.shared_limit(raws, view, options)
        mine = [views.view_figure(raw, view, views.ViewOptions(limit=limit)) for raw in raws]
        if view == "Sentences":  # bars on an axis instead of a colourbar
            ends = {f.axes[0].get_xlim()[1] for f in mine}
        else:
            ends = {end for f in mine for end in _bar_ranges(f)}
        assert len(ends) == 1 and limit > 0, view
    credit = [raw.patch_credit() if kind == "image" else raw.credit[~raw.hidden] for raw in raws]
    depth_view = "Depth x patch" if kind == "image" else "Depth x token"
    assert views.shared_limit(raws, depth_view, options) == max(np.abs(c).max() for c in credit)
    assert views.shared_limit([], depth_view, options) is None
