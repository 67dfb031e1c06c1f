"""The app's views of one raw credit record, each drawn by a builder of `creditlens.viz`.

Images (Heinsen 2022, Section 4): the overlay of the sum over depths, the grid of one map per depth, the map
of a single depth, and the depth x patch map. Texts: the coloured tokens, the depth x token map and the
credit per sentence. Every view is a matplotlib figure, so every view downloads as PNG, SVG and PDF.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from creditlens.viz import (
    Mode,
    RawCredit,
    depth_grid_figure,
    depth_map_figure,
    depth_position_figure,
    overlay_figure,
    sentence_figure,
    token_figure,
)

IMAGE_VIEWS: tuple[str, ...] = ("Overlay", "Per-depth grid", "One depth", "Depth x patch")
TEXT_VIEWS: tuple[str, ...] = ("Tokens", "Depth x token", "Sentences")


@dataclass(frozen=True)
class ViewOptions:
    """How to draw a view.

    Attributes:
        mode: `"signed"` (diverging, centred at zero) or `"magnitude"` (|credit| on a log scale).
        alpha: opacity of the credit over the image (Overlay).
        depth: the depth shown (One depth); 0 is the embedding output.
    """

    mode: Mode = "signed"
    alpha: float = 0.55
    depth: int = 0


def views(kind: str) -> tuple[str, ...]:
    """The views of `"image"` or `"text"` credit."""
    return IMAGE_VIEWS if kind == "image" else TEXT_VIEWS


def view_figure(raw: RawCredit, view: str, options: ViewOptions) -> Figure:
    """Draw one view of `raw`.

    Raises:
        ValueError: a view that is not one of `views(raw.kind)`.
    """
    mode = options.mode
    title = raw.title
    if view == "Overlay" and raw.image is not None:
        return overlay_figure(raw.image, raw.grid(), alpha=options.alpha, mode=mode, title=title)
    if view == "Per-depth grid":
        return depth_grid_figure(raw.grid(per_depth=True), depths=raw.depths, mode=mode, title=title)
    if view == "One depth":
        grid = raw.grid(per_depth=True)[options.depth]  # [rc]
        return depth_map_figure(grid, depth=raw.depths[options.depth], mode=mode, title=title)
    if view == "Depth x patch":
        rows, cols = raw.grid_size
        xlabel = f"patch (raster order, {rows} rows x {cols} columns)"
        return depth_position_figure(
            raw.patch_credit(), depths=raw.depths, mode=mode, title=title, xlabel=xlabel
        )
    if raw.kind == "text":
        strings = raw.token_strings()
        if view == "Tokens":
            per_token = raw.credit.sum(axis=-1)  # [p]
            return token_figure(
                strings, per_token, gaps=raw.token_gaps(), special=raw.special, mode=mode, title=title
            )
        if view == "Depth x token":
            visible = ~raw.hidden  # [p]
            labels = [s for s, v in zip(strings, visible) if v]
            credit = raw.credit[visible]  # [pl]
            return depth_position_figure(
                credit, position_labels=labels, depths=raw.depths, mode=mode, title=title, xlabel="token"
            )
        if view == "Sentences":
            return sentence_figure(raw.sentences(), raw.per_sentence(), mode=mode, title=title)
    raise ValueError(f"unknown view {view!r} for {raw.kind} credit; views: {', '.join(views(raw.kind))}.")
