"""Areas under perturbation curves and rank correlations, as the evaluation protocols define them.

A curve is sampled at equally spaced fractions of the input removed (or inserted); its area over x in [0, 1]
is the trapezoid rule `(sum(y) - y[0] / 2 - y[-1] / 2) / (len(y) - 1)` (Petsiuk et al. 2018). Chefer et al.
(2021) report positive and negative perturbation as `100 * trapz(y, x)` over x = 0, 0.1, ..., 0.9.
"""

from __future__ import annotations

import torch


def trapezoid_auc(curves: torch.Tensor) -> torch.Tensor:
    """Area under curves sampled at equal steps over x in [0, 1].

    Args:
        curves: `[..., n_steps]` with `n_steps >= 2`.

    Returns:
        `[...]` the areas.
    """
    if curves.shape[-1] < 2:
        raise ValueError(f"a curve needs at least 2 points, got {curves.shape[-1]}.")
    total = curves.sum(-1) - curves[..., 0] / 2 - curves[..., -1] / 2  # [...]
    return total / (curves.shape[-1] - 1)


def trapezoid(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`∫ y dx` by the trapezoid rule over the points `x` (`[n]`), for curves `y` `[..., n]`."""
    return ((y[..., 1:] + y[..., :-1]) / 2 * (x[1:] - x[:-1])).sum(-1)


def ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks `0..n-1` of a `[n]` vector as float64; tied values share the mean of their ranks."""
    _, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)  # [n], [u]
    first = counts.cumsum(0) - counts  # [u] rank of each distinct value's first occurrence
    return (first + (counts - 1) / 2).to(torch.float64)[inverse]  # [n]


def spearman(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Spearman rank correlation of `a` and `b` along the last dim, over the entries where `mask` is True.

    Args:
        a, b: `[B, n]` values.
        mask: `[B, n]` bool, the entries that count (default: all).

    Returns:
        `[B]` correlations in [-1, 1]; 0 where either side is constant over its entries.
    """
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    mask = torch.ones_like(a, dtype=torch.bool) if mask is None else mask
    out = torch.zeros(a.shape[0], dtype=torch.float64)  # [B]
    for i in range(a.shape[0]):
        ra, rb = ranks(a[i][mask[i]].double()), ranks(b[i][mask[i]].double())  # [k]
        ra, rb = ra - ra.mean(), rb - rb.mean()
        denominator = (ra.square().sum() * rb.square().sum()).sqrt()
        if denominator > 0:
            out[i] = (ra * rb).sum() / denominator
    return out
