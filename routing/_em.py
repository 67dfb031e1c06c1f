"""The expectation-maximization loop shared by the two vector routings (Heinsen 2022, Algorithm 1).

Each iteration runs an E-step (R: how much each input is routed to each output), a D-step (the share of each
input's activation used and ignored by each output) and an M-step (phi, the "bang per bit" credit, and the
outputs it weights). The D-step and M-step are fused into one expression,

    phi = f(a) * (R * (beta_use + beta_ign) - beta_ign)  ==  beta_use * D_use - beta_ign * D_ign,

so no `[..., n_inp, n_out]` tensor beyond R and phi is kept for the backward pass; `D_use` and `D_ign` are
recomputed on demand by the result object.

Masks (True = ignore) are handled here for every variant. Unlike the reference, an input masked for every
output gets R = 0, hence zero credit, instead of a softmax over nothing (NaN for the whole sample).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch


class EMState(NamedTuple):
    """What the loop leaves behind after its last iteration."""

    x_out: torch.Tensor  # [...jh]
    phi: torch.Tensor  # [...ij]
    R: torch.Tensor  # [...ij]
    f_a_inp: torch.Tensor  # [...i1] or [...ij]
    pred_x_inp: torch.Tensor | None  # [...jd]
    S: torch.Tensor | None  # [...ij]


def masked_softmax(S: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over outputs that skips masked pairs; a row masked everywhere gets all zeros (not NaN).

    Args:
        S: scores `[..., n_inp, n_out]`.
        mask: bool `[..., n_inp, n_out]` (broadcastable), True = pair ignored; or None.
    """
    if mask is None:
        return S.softmax(dim=-1)  # [...ij]
    row_masked = mask.all(dim=-1, keepdim=True)  # [...i1]
    # Fill fully masked rows with a finite value so the softmax (and its gradient) stays finite there.
    fill = torch.where(row_masked, 0.0, float("-inf")).to(S.dtype)  # [...i1]
    R = torch.where(mask, fill, S).softmax(dim=-1)  # [...ij]
    return R.masked_fill(row_masked, 0.0)  # [...ij]


def uniform_routing(ones_over_n_out: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The first iteration's prior: each input split evenly over the outputs it may reach.

    Args:
        ones_over_n_out: the layer's `CONST_ones_over_n_out` buffer `[n_out]`; used as stored, so a checkpoint
            whose buffer was saved in float32 reproduces its original outputs.
        mask: bool `[..., n_inp, n_out]` (broadcastable), True = pair ignored; or None.

    Returns `[n_out]` without a mask, else `[..., n_inp, n_out]`.
    """
    if mask is None:
        return ones_over_n_out  # [j]
    allowed = (~mask).to(ones_over_n_out.dtype)  # [...ij]
    return allowed / allowed.sum(dim=-1, keepdim=True).clamp(min=1.0)  # [...ij]


def activation(a_inp: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """f(a) = sigmoid(a), zero on masked pairs: `[..., n_inp, 1]`, or `[..., n_inp, n_out]` with a mask."""
    f_a_inp = a_inp.sigmoid().unsqueeze(-1)  # [...i1]
    return f_a_inp if mask is None else f_a_inp.masked_fill(mask, 0.0)  # [...i1] or [...ij]


def run_vector_routing(
    f_a_inp: torch.Tensor,
    beta_use: torch.Tensor,
    beta_ign: torch.Tensor,
    mask: torch.Tensor | None,
    ones_over_n_out: torch.Tensor,
    n_iters: int,
    vote: Callable[[torch.Tensor], torch.Tensor],
    predict: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
) -> EMState:
    """Run `n_iters` E-D-M iterations.

    Args:
        f_a_inp: activations f(a) `[..., n_inp, 1]` (or `[..., n_inp, n_out]` when masked).
        beta_use, beta_ign: net benefit and cost per unit of data, `[..., n_inp, n_out]` (broadcastable).
        mask: bool `[..., n_inp, n_out]` (broadcastable), True = pair ignored; or None.
        ones_over_n_out: the layer's `CONST_ones_over_n_out` buffer `[n_out]` (see `uniform_routing`).
        n_iters: number of iterations (>= 1).
        vote: phi `[..., n_inp, n_out]` -> outputs `[..., n_out, d_out]` (the M-step's weighted votes).
        predict: outputs -> (predicted inputs `[..., n_out, d_inp]`, scores S `[..., n_inp, n_out]`).
    """
    beta_sum = beta_use + beta_ign  # [...ij]

    def d_and_m_steps(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = f_a_inp * (R * beta_sum - beta_ign)  # [...ij]
        return phi, vote(phi)  # [...ij], [...jh]

    pred_x_inp = S = None
    R = uniform_routing(ones_over_n_out, mask)  # [j] or [...ij]
    phi, x_out = d_and_m_steps(R)
    for _ in range(n_iters - 1):
        pred_x_inp, S = predict(x_out)  # [...jd], [...ij]
        R = masked_softmax(S, mask)  # [...ij]
        phi, x_out = d_and_m_steps(R)
    R = R.expand(phi.shape)  # [...ij], also after a single iteration
    return EMState(x_out, phi, R, f_a_inp, pred_x_inp, S)
