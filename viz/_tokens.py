"""Which words a token heatmap shows, with the credit, the space before and the special flag of each.

Word pieces (tokens with no space before them, such as `sparkle` + `s`, or `invention` + `.`) are joined
into the word the text shows, and the word's credit is the sum of its pieces' credit: credit is additive over
inputs, so the total stays that of the tokens. Special tokens are never joined to anything.
"""

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
        text: the characters shown: a whole word (its pieces joined) or a special token.
        value: its credit (the sum over its pieces).
        gap: True if a space comes before it.
        special: True on special tokens (drawn marked: outlined and in italics).
        pieces: the tokens it joins, in order.
    """

    text: str
    value: float
    gap: bool
    special: bool
    pieces: tuple[str, ...] = ()


def shown_tokens(
    tokens: Sequence[str],
    credit: ArrayLike,
    gaps: Sequence[bool] | None,
    special: Sequence[bool] | None,
    show_special: bool,
) -> list[ShownToken]:
    """The words to draw, in order, pieces joined: of all tokens, or of all but the special ones (see
    `token_figure` for the args)."""
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
    shown: list[ShownToken] = []
    after_special = True  # nothing to join before the first token, nor across a special token, shown or not
    for tok, val, gap, spec in zip(tokens, values, gaps, special):
        joins = not (gap or spec or after_special)
        after_special = bool(spec)
        if spec and not show_special:
            continue
        if joins:
            word = shown.pop()
            shown.append(
                ShownToken(
                    word.text + str(tok), word.value + float(val), word.gap, False, (*word.pieces, str(tok))
                )
            )
        else:
            shown.append(ShownToken(str(tok), float(val), bool(gap), bool(spec), (str(tok),)))
    return shown


def scale_values(shown: Sequence[ShownToken]) -> np.ndarray:
    """Credit of the shown ordinary words: what the colour scale spans (special tokens may saturate it)."""
    return np.array([t.value for t in shown if not t.special], dtype=np.float64)
