"""How to read a figure, in words shown beside it: what its colours mean, what its axes are, and what the
numbers add up to, so a first-time user understands the page without the README.
"""

from __future__ import annotations

import numpy as np

from creditlens.attribution.explain_methods import METHODS
from creditlens.viz import RawCredit
from creditlens.viz.colors import DYNAMIC_RANGE

# What one cell of each view is.
_CELLS = {
    "Overlay": "each patch's credit, summed over depths, is spread smoothly over its part of the image as the "
    "model saw it",
    "Per-depth grid": "one map per depth (0 = the embedding output), each square one patch",
    "One depth": "each square is one patch's credit at this depth",
    "Depth x patch": "rows are depths (0 = the embedding output), columns the patches in raster order",
    "Tokens": "each word is coloured by its credit: its word pieces' summed over depths",
    "Depth x token": "rows are depths (0 = the embedding output), columns the tokens",
    "Sentences": "each bar is a sentence's credit, summed over its tokens and depths",
}


def reading(raw: RawCredit, view: str, mode: str, limit: float, bias: float | None) -> str:
    """Markdown that tells how to read `view` of `raw` drawn in colour `mode` up to `|credit|` = `limit`.

    Args:
        raw: the credit shown (its class, scores and method).
        view: the view's name (see `views.views`).
        mode: `"signed"` or `"magnitude"`.
        limit: the `|credit|` at the end of the colour scale (shared by figures compared side by side).
        bias: for the contribution methods, the part of the score that is no position's; None otherwise.
    """
    label = raw.label
    if mode == "signed":
        colours = (
            f"**Red** raised the score of *{label}*, **blue** lowered it, **white** is zero; "
            f"the colour runs to ±{limit:.3g} at its ends."
        )
    else:
        colours = (
            f"**Brighter** is more credit whatever its sign (|credit| on a log scale from "
            f"{limit / DYNAMIC_RANGE:.2g} to {limit:.3g}); pick *signed* to see which way it pushed."
        )
    cells = _CELLS.get(view, "")
    lines = [colours, cells[:1].upper() + cells[1:] + "."]
    score = float(raw.scores[raw.cls])
    if bias is not None:
        total = float(np.nansum(raw.credit))
        lines.append(
            f"Credit is in score units: all positions' credit ({total:.2f}) plus the bias ({bias:.2f}) "
            f"is *{label}*'s score, {score:.2f}."
        )
    elif raw.method == "paper":
        lines.append(
            "This is the paper's credit of phi (Heinsen 2022, Appendix A): how much each state's vote counts "
            "in the routing, not a share of the score."
        )
    elif raw.method in METHODS:
        lines.append(f"Method {raw.method}: {METHODS[raw.method]}.")
    return "  \n".join(line for line in lines if line != ".")
