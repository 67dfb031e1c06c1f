"""Image figures show what they claim: the most credited patch in the colormap's extreme colour, in place."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import LogNorm

from creditlens.viz import (
    credit_cmap,
    depth_grid_figure,
    depth_map_figure,
    depth_position_figure,
    overlay_figure,
    sentence_figure,
    token_figure,
    upsample,
)

from _viz_helpers import assert_color, pixel_at, render

pytestmark = pytest.mark.filterwarnings("error")

TITLE = "fashion-mnist-vit — Ankle boot (p = 0.97)"


def _grids(d_depth: int = 3, rows: int = 5, cols: int = 6) -> np.ndarray:
    """Small random credit with a single maximum at depth 1, patch (3, 4) and a single minimum elsewhere."""
    grids = np.random.default_rng(0).uniform(-0.5, 0.5, size=(d_depth, rows, cols))
    grids[1, 3, 4] = 2.0
    grids[2, 0, 1] = -1.5
    return grids


def _panel(figure, depth: int):
    return next(ax for ax in figure.axes if ax.get_title() == f"depth {depth}")


@pytest.mark.parametrize("shared_scale", [True, False])
def test_depth_grid_draws_the_top_patch_in_the_extreme_colour(shared_scale: bool) -> None:
    figure = depth_grid_figure(_grids(), shared_scale=shared_scale, title=TITLE)
    cmap = credit_cmap("signed")
    assert_color(pixel_at(figure, _panel(figure, 1), 4, 3), cmap(1.0))  # (x = column, y = row)
    low = -1.5 / 2.0 if shared_scale else -1.0  # on a shared scale the minimum is not at the extreme
    assert_color(pixel_at(figure, _panel(figure, 2), 1, 0), cmap(0.5 + low / 2))
    assert TITLE in [t.get_text() for t in figure.texts]
    norms = {id(im.norm): im.norm for ax in figure.axes for im in ax.images}
    assert len(norms) == (1 if shared_scale else 3)
    assert all(n.vmin == -n.vmax for n in norms.values())


def test_depth_grid_magnitude_is_log_scaled() -> None:
    grids = _grids()
    grids[0] = 0.0
    figure = depth_grid_figure(grids, mode="magnitude")
    cmap = credit_cmap("magnitude")
    images = [im for ax in figure.axes for im in ax.images]
    assert images and all(isinstance(im.norm, LogNorm) for im in images)
    assert images[0].norm.vmax == 2.0 and images[0].norm.vmin == pytest.approx(2e-4)
    assert_color(pixel_at(figure, _panel(figure, 1), 4, 3), cmap(1.0))
    assert_color(pixel_at(figure, _panel(figure, 0), 2, 2), cmap(0.0))  # zero credit: clipped to the floor


def test_single_depth_map() -> None:
    grid = _grids()[1]
    figure = depth_map_figure(grid, depth=1, title=TITLE)
    ax = figure.axes[0]
    assert ax.get_title() == "depth 1"
    assert_color(pixel_at(figure, ax, 4, 3), credit_cmap("signed")(1.0))


def test_overlay_upsamples_credit_onto_the_image_with_the_given_opacity() -> None:
    grid = _grids()[1]  # 5 x 6 patches of 8 x 8 pixels
    image = np.zeros((40, 48, 3), dtype=np.uint8)  # black, so the blend is easy to predict
    centre = (4 * 8 + 3.5, 3 * 8 + 3.5)  # (x, y) of the top patch's centre in image pixels
    opaque = overlay_figure(image, grid, alpha=1.0, smooth=False)
    assert_color(pixel_at(opaque, opaque.axes[0], *centre), credit_cmap("signed")(1.0))
    half = overlay_figure(image, grid, alpha=0.5, smooth=False, grey=False)
    assert_color(pixel_at(half, half.axes[0], *centre), 0.5 * np.asarray(credit_cmap("signed")(1.0)))
    smooth = upsample(grid, (40, 48))
    assert (
        smooth.shape == (40, 48) and smooth.max() <= grid.max() + 1e-6 and smooth.min() >= grid.min() - 1e-6
    )
    blocks = upsample(grid, (40, 48), smooth=False)
    np.testing.assert_allclose(blocks[::8, ::8], grid, rtol=1e-6)


def test_depth_position_map_has_depths_as_rows_and_positions_as_columns() -> None:
    credit = np.random.default_rng(1).uniform(-0.5, 0.5, size=(20, 4))  # [n_pos, d_depth]
    credit[7, 2] = 3.0
    figure = depth_position_figure(credit, xlabel="patch (raster order)", title=TITLE)
    ax = figure.axes[0]
    assert_color(pixel_at(figure, ax, 7, 2), credit_cmap("signed")(1.0))
    assert ax.get_ylabel() == "depth" and ax.get_xlabel() == "patch (raster order)"
    assert ax.transData.transform((0, 0))[1] < ax.transData.transform((0, 3))[1]  # depth 0 at the bottom
    labelled = depth_position_figure(credit[:5], position_labels=list("abcde"))
    render(labelled)
    assert [t.get_text() for t in labelled.axes[0].get_xticklabels()] == list("abcde")


_BUILDERS = {
    "grid_shared": lambda v, m: depth_grid_figure(v, mode=m),
    "grid_per_panel": lambda v, m: depth_grid_figure(v, mode=m, shared_scale=False),
    "map": lambda v, m: depth_map_figure(v[0], mode=m),
    "overlay": lambda v, m: overlay_figure(np.zeros((12, 12)), v[0], mode=m),
    "depth_position": lambda v, m: depth_position_figure(v.reshape(2, -1).T, mode=m),
    "tokens": lambda v, m: token_figure(["a", "b", "c"], v.ravel()[:3], mode=m),
    "sentences": lambda v, m: sentence_figure(["a.", "b."], v.ravel()[:2], mode=m),
}


@pytest.mark.parametrize("mode", ["signed", "magnitude"])
@pytest.mark.parametrize("fill", [0.0, -0.7])
@pytest.mark.parametrize("name", list(_BUILDERS))
def test_all_zero_and_constant_maps_render_without_warnings(name: str, fill: float, mode: str) -> None:
    values = np.full((2, 3, 3), fill)
    pixels = render(_BUILDERS[name](values, mode))
    assert pixels.shape[0] > 20 and pixels.shape[1] > 20
