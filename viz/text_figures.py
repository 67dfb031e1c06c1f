"""Figures of text credit: words coloured by credit (wrapped lines of boxes), and credit per sentence (bars).

A token's credit is the end-to-end credit of its hidden states summed over depths (Heinsen 2022, Appendix A);
a word's credit is the sum over its pieces and a sentence's the sum over its tokens, since credit is
additive over inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import Colormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

from ._arrays import as_array
from ._tokens import ShownToken, scale_values, shown_tokens
from .colors import (
    Mode,
    add_colorbar,
    colorbar_label,
    credit_cmap,
    credit_colors,
    credit_norm,
    display_values,
    text_color,
)
from .style import COLUMN_WIDTH, FONT_SIZE, PAGE_WIDTH, TITLE_SIZE, add_title, finish, new_figure, paper_style

_MARGIN = 0.1  # inches around the token block
_PAD = 0.025  # inches between a token's text and its box edge
_GAP = 0.05  # inches between words
_JOIN = 0.008  # inches between pieces of one word
_BOX = FONT_SIZE * 1.45 / 72  # box height, inches
_LINE = FONT_SIZE * 1.9 / 72  # line pitch, inches
_LEGEND = 0.6  # inches below the tokens for the colourbar
_TITLE = 0.3  # inches above the tokens for the title
_TITLE_LINE = TITLE_SIZE * 1.2 / 72  # inches per further line of a wrapped title
_BAR = 2.4  # colourbar width, inches


def token_figure(
    tokens: Sequence[str],
    credit: ArrayLike,
    *,
    gaps: Sequence[bool] | None = None,
    special: Sequence[bool] | None = None,
    show_special: bool = False,
    mode: Mode = "signed",
    vmax: float | None = None,
    title: str | None = None,
    width: float = PAGE_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """Words in reading order, wrapped into lines, each in a box coloured by its credit; a colourbar below.

    Word pieces are joined: a token with no space before it (`gaps` False) is drawn as part of the word
    before it, as the text shows it ("sparkle" + "s" is one box "sparkles"), and the word's credit is the
    sum of its pieces' credit, so the credit drawn adds up to the tokens' total. The depth x token figure
    shows each piece on its own.

    Args:
        tokens: the text of each token (such as `RawCredit.token_strings()`).
        credit: `[n_tok]` credit of each token (summed over depths).
        gaps: per token, True if a space comes before it (False joins it to the word before). Default: all
            True.
        special: per token, True on special tokens (`[CLS]`, `</s>`, ...), which are never joined. Default:
            none.
        show_special: draw special tokens marked (dashed outline, italics) instead of leaving them out. The
            colour scale always spans the ordinary words only.
        mode: `"signed"` or `"magnitude"`.
        vmax: the `|credit|` at the end of the colour scale (see `colors.shared_limit` and `word_credit`).
            Default: the largest `|credit|` of an ordinary word.
        title: figure title (wrapped at the figure's width).
        width: figure width in inches; lines wrap to it. A text that fits on one line of a column gets a
            column-wide figure (3.5 in) instead.
        cmap: colormap instead of the mode's default.
    """
    shown = shown_tokens(tokens, credit, gaps, special, show_special)
    norm = credit_norm(scale_values(shown), mode, vmax)
    colormap = credit_cmap(mode, cmap)
    with paper_style():
        figure = new_figure(width, 1.0, constrained=False)
        placed = _wrap(figure, shown, width - 2 * _MARGIN)
        if width > COLUMN_WIDTH:
            narrow = _wrap(figure, shown, COLUMN_WIDTH - 2 * _MARGIN)
            if all(line == 0 for line, _, _ in narrow):
                width, placed = COLUMN_WIDTH, narrow
        n_lines = 1 + max((line for line, _, _ in placed), default=-1)
        if n_lines == 1:  # a single line is centred, like the title and colourbar
            shift = (width - 2 * _MARGIN - max((x + w for _, x, w in placed), default=0.0)) / 2
            placed = [(line, x + shift, w) for line, x, w in placed]
        title_lines = _wrap_words(figure, title or "", TITLE_SIZE, width - 2 * _MARGIN)
        top = _TITLE + (len(title_lines) - 1) * _TITLE_LINE if title else _MARGIN
        height = top + n_lines * _LINE + _LEGEND
        figure.set_size_inches(width, height)
        inches = figure.dpi_scale_trans
        colors = credit_colors([t.value for t in shown], norm, colormap).reshape(-1, 4)  # [p4]
        for i, (token, (line, x, w), color) in enumerate(zip(shown, placed, colors)):
            y = height - top - (line + 1) * _LINE + (_LINE - _BOX) / 2
            box = Rectangle(
                (_MARGIN + x, y),
                w,
                _BOX,
                transform=inches,
                facecolor=color,
                edgecolor="0.35" if token.special else "none",
                linestyle="--",
                linewidth=0.6,
            )
            figure.add_artist(box)
            figure.text(
                _MARGIN + x + w / 2,
                y + 0.24 * _BOX,
                token.text,
                transform=inches,
                ha="center",
                va="baseline",
                fontsize=FONT_SIZE,
                color=text_color(color),
                style="italic" if token.special else "normal",
                parse_math=False,
                gid=f"token-{i}",
            )
        if title:
            figure.text(
                width / 2,
                height - 0.08,
                "\n".join(title_lines),
                transform=inches,
                ha="center",
                va="top",
                fontsize=TITLE_SIZE,
                linespacing=1.2,
                parse_math=False,
            )
        bar_width = min(_BAR, width - 2 * _MARGIN)
        cax = figure.add_axes(
            ((width - bar_width) / 2 / width, 0.36 / height, bar_width / width, 0.08 / height)
        )
        add_colorbar(figure, norm, colormap, mode, cax=cax, orientation="horizontal")
        return finish(figure)


def word_credit(
    tokens: Sequence[str],
    credit: ArrayLike,
    *,
    gaps: Sequence[bool] | None = None,
    special: Sequence[bool] | None = None,
) -> np.ndarray:
    """`[n_words]` credit of each ordinary word `token_figure` and `token_html` colour (pieces summed, special
    tokens left out): what their colour scale spans, to pass to `colors.shared_limit`.

    Args:
        tokens: the text of each token.
        credit: `[n_tok]` credit of each token.
        gaps: per token, True if a space comes before it. Default: all True.
        special: per token, True on special tokens. Default: none.
    """
    return scale_values(shown_tokens(tokens, credit, gaps, special, show_special=False))


def sentence_figure(
    sentences: Sequence[str],
    credit: ArrayLike,
    *,
    mode: Mode = "signed",
    vmax: float | None = None,
    title: str | None = None,
    max_chars: int = 36,
    width: float = COLUMN_WIDTH,
    cmap: str | Colormap | None = None,
) -> Figure:
    """Credit of each sentence as horizontal bars, first sentence on top, coloured by the same scale.

    Args:
        sentences: the text of each sentence (`TextExplanation.sentences(i)` or `RawCredit.sentences()`).
        credit: `[n_sentences]` credit of each sentence (`TextExplanation.per_sentence(cls)[i]`).
        mode: `"signed"` (bars left or right of zero) or `"magnitude"` (|credit| on a log axis).
        vmax: the `|credit|` at the end of the colour scale and of the axis (see `colors.shared_limit`).
            Default: the largest `|credit|` of a sentence.
        title: figure title.
        max_chars: sentences are shortened to this many characters in the labels.
        width: figure width in inches.
        cmap: colormap instead of the mode's default.
    """
    values = as_array(credit, ndim=1, name="credit")  # [s]
    n_sent = values.shape[0]
    if len(sentences) != n_sent:
        raise ValueError(f"got {n_sent} credit values for {len(sentences)} sentences.")
    norm = credit_norm(values, mode, vmax)
    shown = display_values(values, norm)  # [s]
    colors = credit_colors(values, norm, credit_cmap(mode, cmap)).reshape(-1, 4)  # [s4]
    labels = [f"{i + 1}. {_shorten(s, max_chars)}" for i, s in enumerate(sentences)]
    with paper_style():
        figure = new_figure(width, 0.75 + 0.2 * max(n_sent, 1) + (0.45 if title else 0.0))
        ax = figure.subplots()
        rows = np.arange(n_sent)
        if isinstance(norm, LogNorm):
            ax.set_xscale("log")
            ax.barh(rows, shown - norm.vmin, left=norm.vmin, color=colors, edgecolor="0.3", linewidth=0.4)
            ax.set_xlim(norm.vmin, norm.vmax * 1.5)
        else:
            ax.barh(rows, shown, color=colors, edgecolor="0.3", linewidth=0.4)
            ax.axvline(0.0, color="0.3", linewidth=0.6)
            ax.set_xlim(norm.vmin * 1.05, norm.vmax * 1.05)
        ax.set_yticks(rows)
        ax.set_yticklabels(labels, parse_math=False)
        ax.set_ylim(n_sent - 0.5, -0.5)  # first sentence on top
        ax.set_xlabel(colorbar_label(mode))
        add_title(figure, title)
        return finish(figure)


def _wrap(figure: Figure, shown: Sequence[ShownToken], line_width: float) -> list[tuple[int, float, float]]:
    """`(line, x, box width)` in inches of each token, wrapping before a token that would overflow."""
    placed = []
    line = 0
    x = 0.0
    for token in shown:
        w = _text_width(figure, token.text, FONT_SIZE, italic=token.special) + 2 * _PAD
        start = x + (_GAP if token.gap else _JOIN) if placed else 0.0
        if placed and start + w > line_width:
            line += 1
            start = 0.0
        placed.append((line, start, w))
        x = start + w
    return placed


def _wrap_words(figure: Figure, text: str, size: float, line_width: float) -> list[str]:
    """`text` split into lines at spaces, each at most `line_width` inches wide (a longer word gets a line
    of its own)."""
    lines: list[str] = []
    for word in text.split(" "):
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and _text_width(figure, joined, size) > line_width:
            lines.append(word)
        elif lines:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines


def _text_width(figure: Figure, text: str, size: float, *, italic: bool = False) -> float:
    """Width in inches of `text` drawn in the default font at `size` points."""
    font = FontProperties(size=size, style="italic" if italic else "normal")
    renderer = figure.canvas.get_renderer()
    return renderer.get_text_width_height_descent(text, font, ismath=False)[0] / figure.dpi


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
