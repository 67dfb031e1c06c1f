"""The app's views of one raw credit record, each drawn by a builder of `creditlens.viz`.

Images (Heinsen 2022, Section 4): the overlay of the sum over depths, the grid of one map per depth, the map
of a single depth, and the depth x patch map. Texts: the coloured words, the depth x token map and the
credit per sentence. Every view is a matplotlib figure, so every view downloads as PNG, SVG and PDF.

Views of several records (the classes of compare mode) share one colour scale when drawn with
`ViewOptions(limit=shared_limit(raws, view, options))`, so equal credit gets equal colour in each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
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
    word_credit,
)
from creditlens.viz import shared_limit as _shared_limit

IMAGE_VIEWS: tuple[str, ...] = ("Overlay", "Per-depth grid", "One depth", "Depth x patch")
TEXT_VIEWS: tuple[str, ...] = ("Tokens", "Depth x token", "Sentences")


@dataclass(frozen=True)
class ViewOptions:
    """How to draw a view.

    Attributes:
        mode: `"signed"` (diverging, centred at zero) or `"magnitude"` (|credit| on a log scale).
        alpha: opacity of the credit over the image (Overlay, and Per-depth grid with `show_image`).
        depth: the depth shown (One depth); 0 is the embedding output.
        limit: the `|credit|` at the end of the colour scale, such as `shared_limit(...)` of the records
            drawn side by side; None: each figure's own largest `|credit|`.
        width: figure width in inches; None: each view's default. Figures shown in half a page (compare
            mode) are best drawn at `creditlens.viz.COLUMN_WIDTH` (3.5 in), so their text keeps its size.
        show_image: Per-depth grid: draw each depth's map over the input image (when the record keeps it).
    """

    mode: Mode = "signed"
    alpha: float = 0.55
    depth: int = 0
    limit: float | None = None
    width: float | None = None
    show_image: bool = False


def views(kind: str) -> tuple[str, ...]:
    """The views of `"image"` or `"text"` credit."""
    return IMAGE_VIEWS if kind == "image" else TEXT_VIEWS


def view_figure(raw: RawCredit, view: str, options: ViewOptions) -> Figure:
    """Draw one view of `raw`.

    Raises:
        ValueError: a view that is not one of `views(raw.kind)`.
    """
    _check_view(raw, view)
    common = {"mode": options.mode, "vmax": options.limit, "title": raw.title}
    if options.width is not None:
        common["width"] = options.width
    if view == "Overlay":
        return overlay_figure(raw.image, raw.grid(), alpha=options.alpha, **common)
    if view == "Per-depth grid":
        image = raw.image if options.show_image else None
        return depth_grid_figure(
            raw.grid(per_depth=True), image=image, alpha=options.alpha, depths=raw.depths, **common
        )
    if view == "One depth":
        grid = raw.grid(per_depth=True)[options.depth]  # [rc]
        return depth_map_figure(grid, depth=raw.depths[options.depth], **common)
    if view == "Depth x patch":
        rows, cols = raw.grid_size
        xlabel = f"patch (raster order, {rows} rows x {cols} columns)"
        return depth_position_figure(
            raw.patch_credit(), depths=raw.depths, xlabel=xlabel, row_length=cols, **common
        )
    strings = raw.token_strings()
    if view == "Tokens":
        per_token = raw.credit.sum(axis=-1)  # [p]
        return token_figure(strings, per_token, gaps=raw.token_gaps(), special=raw.special, **common)
    if view == "Depth x token":
        visible = ~raw.hidden  # [p]
        labels = [s for s, v in zip(strings, visible) if v]
        return depth_position_figure(
            raw.credit[visible], position_labels=labels, depths=raw.depths, xlabel="token", **common
        )
    return sentence_figure(raw.sentences(), raw.per_sentence(), **common)


def shared_limit(raws: Sequence[RawCredit], view: str, options: ViewOptions) -> float | None:
    """The colour limit that puts `view` of every record in `raws` on one scale (pass it as
    `ViewOptions.limit`), or None for no records.

    It is the largest `|credit|` among the values the view colours in each record: the summed patch grid
    (Overlay), every depth's grid (Per-depth grid), the chosen depth's grid (One depth), every patch or
    visible token at every depth (Depth x patch, Depth x token), every word (Tokens), every sentence
    (Sentences).

    Raises:
        ValueError: a view that is not one of `views(raw.kind)` for some record.
    """
    if not raws:
        return None
    return _shared_limit([_drawn(raw, view, options) for raw in raws], options.mode)


def _drawn(raw: RawCredit, view: str, options: ViewOptions) -> np.ndarray:
    """The credit values `view_figure(raw, view, options)` maps to colours."""
    _check_view(raw, view)
    if view == "Overlay":
        return raw.grid()  # [rc]
    if view == "Per-depth grid":
        return raw.grid(per_depth=True)  # [lrc]
    if view == "One depth":
        return raw.grid(per_depth=True)[options.depth]  # [rc]
    if view == "Depth x patch":
        return raw.patch_credit()  # [pl]
    if view == "Tokens":
        return word_credit(
            raw.token_strings(), raw.credit.sum(axis=-1), gaps=raw.token_gaps(), special=raw.special
        )  # [w]
    if view == "Depth x token":
        return raw.credit[~raw.hidden]  # [pl]
    return raw.per_sentence()  # [s]


def _check_view(raw: RawCredit, view: str) -> None:
    """Raise a ValueError for a view that `raw` does not have (Overlay needs the input image)."""
    if view not in views(raw.kind):
        raise ValueError(f"unknown view {view!r} for {raw.kind} credit; views: {', '.join(views(raw.kind))}.")
    if view == "Overlay" and raw.image is None:
        raise ValueError("the Overlay view needs the input image, and this credit record does not keep it.")
