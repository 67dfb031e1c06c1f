"""Words coloured by credit as a standalone HTML document: inline styles, escaped text, a colour legend.

The document needs nothing else (no scripts, no stylesheets, no fonts to fetch). Each word (its word pieces
joined, their credit summed, as in `token_figure`) is a `<span>` whose background is its credit's colour on
the same scales as the figures (`colors.py`), with the credit and the pieces in its tooltip; special tokens
are outlined and in italics, or left out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import Colormap, Normalize, to_hex
from numpy.typing import ArrayLike

from ._tokens import scale_values, shown_tokens
from .colors import Mode, colorbar_label, credit_cmap, credit_colors, credit_norm, text_color

_BODY = "font-family: Helvetica, Arial, sans-serif; max-width: 48em; margin: 2em auto; color: #222;"
_TEXT = "line-height: 2.1; font-size: 16px;"
_TOKEN = "padding: 0.12em 0.1em; border-radius: 0.2em;"
_SPECIAL = "outline: 1px dashed #555; font-style: italic;"


def token_html(
    tokens: Sequence[str],
    credit: ArrayLike,
    *,
    gaps: Sequence[bool] | None = None,
    special: Sequence[bool] | None = None,
    show_special: bool = False,
    mode: Mode = "signed",
    vmax: float | None = None,
    title: str | None = None,
    cmap: str | Colormap | None = None,
) -> str:
    """A complete HTML document showing words in reading order with backgrounds coloured by credit.

    Word pieces are joined as in `token_figure`: a token with no space before it belongs to the word
    before it, and the word's credit is the sum of its pieces' credit (the tooltip lists the pieces).

    Args:
        tokens: the text of each token (escaped in the document).
        credit: `[n_tok]` credit of each token (summed over depths).
        gaps: per token, True if a space comes before it (False joins it to the word before). Default: all
            True.
        special: per token, True on special tokens (never joined). Default: none.
        show_special: show special tokens marked (dashed outline, italics) instead of leaving them out.
        mode: `"signed"` or `"magnitude"`.
        vmax: the `|credit|` at the end of the colour scale (see `colors.shared_limit` and `word_credit`).
            Default: the largest `|credit|` of an ordinary word.
        title: page title and heading.
        cmap: colormap instead of the mode's default.

    Returns:
        An `<!DOCTYPE html>` document as a string.
    """
    shown = shown_tokens(tokens, credit, gaps, special, show_special)
    norm = credit_norm(scale_values(shown), mode, vmax)
    colormap = credit_cmap(mode, cmap)
    colors = credit_colors([t.value for t in shown], norm, colormap).reshape(-1, 4)  # [p4]
    spans = []
    for i, (token, color) in enumerate(zip(shown, colors)):
        style = f"background-color: {to_hex(color)}; color: {text_color(color)}; {_TOKEN}"
        if token.special:
            style += " " + _SPECIAL
        space = " " if token.gap and i > 0 else ""
        tip = f"credit {token.value:.4g}"
        if len(token.pieces) > 1:
            tip += f" ({' + '.join(token.pieces)})"
        spans.append(
            f'{space}<span class="token" style="{style}" title="{html.escape(tip)}">'
            f"{html.escape(token.text)}</span>"
        )
    heading = html.escape(title or "Credit per token")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            f'<head><meta charset="utf-8"><title>{heading}</title></head>',
            f'<body style="{_BODY}">',
            f'<h1 style="font-size: 1.15em;">{heading}</h1>',
            f'<p style="{_TEXT}">{"".join(spans)}</p>',
            _legend(norm, colormap, colorbar_label(mode)),
            "</body>",
            "</html>",
            "",
        ]
    )


def _legend(norm: Normalize, cmap: Colormap, label: str) -> str:
    """A colourbar: a CSS gradient through the colormap between its limits, and what it shows."""
    stops = ", ".join(to_hex(c) for c in cmap(np.linspace(0.0, 1.0, 11)))
    bar = (
        f"display: inline-block; width: 14em; height: 0.9em; background: linear-gradient(to right, {stops});"
    )
    return (
        '<div class="legend" style="display: flex; align-items: center; gap: 0.5em; font-size: 13px;">'
        f"<span>{norm.vmin:.3g}</span>"
        f'<span style="{bar}"></span>'
        f"<span>{norm.vmax:.3g}</span>"
        f"<span>{html.escape(label)}</span>"
        "</div>"
    )
