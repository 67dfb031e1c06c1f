"""Which tokens a token heatmap shows, with the credit, the space before and the special flag of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._arrays import as_array


@dataclass(frozen=True)
class ShownToken:
    """A token as a heatmap draws it.

    Attributes:
        text: the characters shown.
        value: its credit.
        gap: True if a space comes before it (False joins word pieces).
        special: True on special tokens (drawn marked: outlined and in italics).
    """

    text: str
    value: float
    gap: bool
    special: bool


def shown_tokens(
    tokens: Sequence[str],
    credit: ArrayLike,
    gaps: Sequence[bool] | None,
    special: Sequence[bool] | None,
    show_special: bool,
) -> list[ShownToken]:
    """The tokens to draw, in order: all, or all but the special ones (see `token_figure` for the args)."""
    values = as_array(credit, ndim=1, name="credit")  # [p]
    n_tok = len(tokens)
    if values.shape[0] != n_tok:
        raise ValueError(f"got {values.shape[0]} credit values for {n_tok} tokens.")
    gaps = [True] * n_tok if gaps is None else list(gaps)
    special = [False] * n_tok if special is None else list(special)
    if len(gaps) != n_tok or len(special) != n_tok:
        raise ValueError(
            f"gaps and special need one entry per token ({n_tok}), got {len(gaps)}, {len(special)}."
        )
    return [
        ShownToken(str(tok), float(val), bool(gap), bool(spec))
        for tok, val, gap, spec in zip(tokens, values, gaps, special)
        if show_special or not spec
    ]


def scale_values(shown: Sequence[ShownToken]) -> np.ndarray:
    """Credit of the shown ordinary tokens: what the colour scale spans (special tokens may saturate it)."""
    return np.array([t.value for t in shown if not t.special], dtype=np.float64)
