"""Helpers of the viz tests: rendered pixels, pixels under data points, synthetic explanations."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from creditlens.attribution import ImageExplanation, PatchPositions, TextExplanation, TokenPositions
from creditlens.routing import HeadOutput


def render(figure: Figure) -> np.ndarray:
    """The figure's canvas as an RGBA uint8 array `[height, width, 4]`."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba()).copy()


def pixel_at(figure: Figure, ax: Axes, x: float, y: float) -> np.ndarray:
    """RGBA in [0, 1] of the rendered pixel under data point `(x, y)` of `ax`."""
    pixels = render(figure)
    col, row = ax.transData.transform((x, y))
    return pixels[int(pixels.shape[0] - row), int(col)] / 255.0


def assert_color(actual: np.ndarray, expected, tol: float = 2.5 / 255) -> None:
    np.testing.assert_allclose(np.asarray(actual)[:3], np.asarray(expected)[:3], atol=tol)


def _head(scores: torch.Tensor) -> HeadOutput:
    batch, n_classes = scores.shape
    return HeadOutput(scores, [torch.zeros(batch, 1, n_classes)], torch.zeros(batch, 1, n_classes))


def image_explanation(grid=(3, 4), prefix: int = 1, d_depth: int = 3, n_classes: int = 4) -> ImageExplanation:
    """Two samples with seeded random credit for every class; sample 0 predicts class 2."""
    gen = torch.Generator().manual_seed(1)
    n_pos = prefix + grid[0] * grid[1]
    scores = torch.tensor([[0.1, 0.2, 3.0, -1.0], [2.0, 0.0, 0.0, 0.0]])[:, :n_classes]
    credit = torch.randn(2, n_pos, d_depth, n_classes, generator=gen, dtype=torch.float64)
    labels = ("T-shirt", "Trouser", "Ankle boot", "Bag")[:n_classes]
    positions = PatchPositions(prefix, grid)
    return ImageExplanation(scores, labels, torch.arange(n_classes), credit, positions, _head(scores))


TEXTS = ["A fine <film>. Not bad & fun!", "Dull."]


def text_explanation() -> TextExplanation:
    """Two texts tokenised at word pieces with `[CLS]`/`[SEP]`; the second is padded."""
    pieces = [
        [
            ("[CLS]", 0, 0),
            ("a", 0, 1),
            ("fine", 2, 6),
            ("<", 7, 8),
            ("film", 8, 12),
            (">.", 12, 14),
            ("not", 15, 18),
            ("bad", 19, 22),
            ("&", 23, 24),
            ("fun", 25, 28),
            ("!", 28, 29),
            ("[SEP]", 0, 0),
        ],
        [("[CLS]", 0, 0), ("dull", 0, 4), (".", 4, 5), ("[SEP]", 0, 0)],
    ]
    n_pos = max(len(p) for p in pieces)
    tokens = [[t for t, _, _ in p] + [""] * (n_pos - len(p)) for p in pieces]
    offsets = torch.zeros(2, n_pos, 2, dtype=torch.long)
    special = torch.zeros(2, n_pos, dtype=torch.bool)
    pad = torch.ones(2, n_pos, dtype=torch.bool)
    for b, p in enumerate(pieces):
        for i, (tok, start, end) in enumerate(p):
            offsets[b, i] = torch.tensor([start, end])
            special[b, i] = tok.startswith("[")
            pad[b, i] = False
    chunk = torch.where(pad, -1, 0)
    positions = TokenPositions(TEXTS, tokens, offsets, special, pad, chunk)
    gen = torch.Generator().manual_seed(2)
    credit = torch.randn(2, n_pos, 4, 2, generator=gen, dtype=torch.float64) * (~pad)[..., None, None]
    scores = torch.tensor([[-1.0, 1.5], [0.5, -0.5]])
    return TextExplanation(
        scores, ("negative", "positive"), torch.arange(2), credit, positions, _head(scores)
    )
