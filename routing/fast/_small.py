"""Gradients of the lean routing's small tensors (Heinsen 2022, Algorithm 1: the M-step's outputs and the
E-step's predictions, with the efficient F and G of Section 3), written by hand so that the forward pass keeps
only the M-step's sums and the outputs.

With A = phi^T x_inp `[b, n_out, d_inp]`, s = sum_i phi `[b, n_out]`, the length scaling c `[b, 1]`, and N the
LayerNorm (no affine) over the last axis when `d_out > 1` (else the identity):

    x_out = (A * c * W_F1) W_F2 + s B_F2          pred_x_inp = M * W_G2 + B_G2,   M = N(x_out) W_G1

Given the gradient g of x_out, and gp of pred_x_inp:

    gA = (g W_F2^T) * c * W_F1    gW_F1 = sum_b (g W_F2^T) * A * c    gW_F2 = (A * c * W_F1)^T g
    gs = g B_F2^T                 gB_F2 = sum_b s g
    gM = gp * W_G2                gW_G2 = sum_b gp * M                gB_G2 = sum_b gp
    gW_G1 = N(x_out)^T gM         g x_out = N's backward of gM W_G1^T

`A * c * W_F1`, N(x_out) and M are recomputed here rather than kept: the first two are elementwise, M is one
matrix product of the small `[b * n_out, d_out] x [d_out, d_inp]` size. Matrix products run in `low` precision
when given (see `_precision.py`).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ..efficient import LAYER_NORM_EPS, normalize
from ._precision import add_matmul_, matmul


def vote_backward(
    A: torch.Tensor,
    s: torch.Tensor,
    scale: torch.Tensor,
    small: SimpleNamespace,
    g: torch.Tensor,
    grads: dict[str, torch.Tensor],
    low: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """gA `[b, n_out, d_inp]` and gs `[b, n_out]` of `x_out = vote(A, s, scale, small.W_F1, small.W_F2, small.B_F2)`
    (`routing/efficient.py`).

    Args:
        A, s: the M-step's sums `[b, n_out, d_inp]`, `[b, n_out]`.
        scale: the length scaling per sample, `[b, 1]`.
        small: W_F1, W_F2, B_F2 (and G's parameters) as attributes.
        g: the gradient of x_out, `[b, n_out, d_out]`.
        grads: gradients by name; those of W_F1, W_F2 and B_F2 are added to theirs if it has them.
        low: the precision of matrix products, or None for the tensors' own.
    """
    c = scale.unsqueeze(-1)  # [b11]
    gT = matmul(g, small.W_F2.mT, low)  # [bjd]
    Ac = A * c  # [bjd]
    if "W_F1" in grads:
        grads["W_F1"] += (gT * Ac).sum(dim=0)  # [jd]
    if "W_F2" in grads:
        Ac.mul_(small.W_F1)  # [bjd]: the product `vote` multiplies by W_F2
        add_matmul_(grads["W_F2"], Ac.flatten(0, 1).mT, g.flatten(0, 1), low)  # [dh]
    if "B_F2" in grads:
        grads["B_F2"] += (g * s.unsqueeze(-1)).sum(dim=0)  # [jh]
    return gT.mul_(small.W_F1).mul_(c), (g * small.B_F2).sum(dim=-1)  # [bjd], [bj]


def predict_backward(
    x_out: torch.Tensor,
    small: SimpleNamespace,
    gp: torch.Tensor,
    grads: dict[str, torch.Tensor],
    low: torch.dtype | None,
) -> torch.Tensor:
    """The gradient `[b, n_out, d_out]` of x_out, given gp `[b, n_out, d_inp]` of
    `predict(x_out, small.W_G1, small.W_G2, small.B_G2)` (`routing/efficient.py`).

    Gradients of W_G1, W_G2 and B_G2 are added to theirs in `grads` (by name) if it has them; matrix products
    run in `low` precision if given.
    """
    normed = normalize(x_out)  # [bjh]
    if "W_G2" in grads:
        grads["W_G2"] += matmul(normed, small.W_G1, low).mul_(gp).sum(dim=0)  # [jd]
    gM = gp * small.W_G2  # [bjd]
    if "B_G2" in grads:
        grads["B_G2"] += gp.sum(dim=0)  # [jd]
    if "W_G1" in grads:
        add_matmul_(grads["W_G1"], normed.flatten(0, 1).mT, gM.flatten(0, 1), low)  # [hd]
    g_normed = matmul(gM, small.W_G1.mT, low)  # [bjh]
    return norm_backward(x_out, g_normed) if x_out.shape[-1] > 1 else g_normed


def norm_backward(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The gradient of x `[..., h]` given g of `F.layer_norm(x, x.shape[-1:])` (no affine)."""
    var, mean = torch.var_mean(x, dim=-1, correction=0, keepdim=True)  # [...1] each
    rstd = (var + LAYER_NORM_EPS).rsqrt()  # [...1]
    y = (x - mean).mul_(rstd)  # [...h]
    g_mean, gy_mean = g.mean(dim=-1, keepdim=True), (g * y).mean(dim=-1, keepdim=True)  # [...1] each
    return (g - g_mean).sub_(y.mul_(gy_mean)).mul_(rstd)  # [...h]
