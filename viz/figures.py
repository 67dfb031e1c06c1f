"""The standard figures of one raw credit record, drawn with the builders of this package.

Images: the per-depth patch grid, the depth x patch map, and (when the input image is kept) the overlay of the
sum over depths. Texts: the token heatmap, the depth x token map and the credit per sentence. Special tokens
and prefix tokens are left out of all of them (`Explanation.hidden_share` tells how much credit they hold).
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .colors import Mode
from .depth_map import depth_position_figure
from .image_figures import depth_grid_figure, overlay_figure
from .raw import RawCredit
from .text_figures import sentence_figure, token_figure


def standard_figures(raw: RawCredit, *, mode: Mode = "signed") -> dict[str, Figure]:
    """The figures of `raw` by name, each titled with the model, class and probability.

    Args:
        raw: one sample's credit for one class (`raw_credit(explanation, ...)` or `load_raw(path)`).
        mode: `"signed"` or `"magnitude"`.

    Returns:
        For images `{"depth_grid", "depth_position"}` plus `"overlay"` if `raw.image` is kept; for texts
        `{"tokens", "depth_tokens", "sentences"}`.
    """
    title = raw.title
    if raw.kind == "image":
        rows, cols = raw.grid_size
        figures = {
            "depth_grid": depth_grid_figure(
                raw.grid(per_depth=True), depths=raw.depths, mode=mode, title=title
            ),
            "depth_position": depth_position_figure(
                raw.patch_credit(),
                depths=raw.depths,
                mode=mode,
                title=title,
                xlabel=f"patch (raster order, {rows} rows x {cols} columns)",
                row_length=cols,
            ),
        }
        if raw.image is not None:
            figures["overlay"] = overlay_figure(raw.image, raw.grid(), mode=mode, title=title)
        return figures
    visible = ~raw.hidden  # [p]
    strings = raw.token_strings()
    per_token = raw.credit.sum(axis=-1)  # [p]
    return {
        "tokens": token_figure(
            strings, per_token, gaps=raw.token_gaps(), special=raw.special, mode=mode, title=title
        ),
        "depth_tokens": depth_position_figure(
            raw.credit[visible],
            position_labels=[s for s, v in zip(strings, visible) if v],
            depths=raw.depths,
            mode=mode,
            title=title,
            xlabel="token",
        ),
        "sentences": sentence_figure(raw.sentences(), raw.per_sentence(), mode=mode, title=title),
    }
