"""The expectation-maximization loop shared by the two vector routings (Heinsen 2022, Algorithm 1).

Each iteration runs an E-step (R: how much each input is routed to each output), a D-step (the share of each
input's activation used and ignored by each output) and an M-step (phi, the "bang per bit" credit, and the
outputs it weights). The D-step and M-step are fused into one expression,

    phi = f(a) * (R * (beta_use + beta_ign) - beta_ign)  ==  beta_use * D_use - beta_ign * D_ign,

and `D_use` and `D_ign` are recomputed on demand by the result object. The D-step's parameters (the betas)
are created here too (`add_betas`), named and drawn as the reference does, for both routings.

Every quantity of the E-, D- and M-steps is computed per input, except the M-step's sums over inputs. The loop
therefore walks the inputs in chunks and accumulates those sums, so without gradients no `[..., n_inp, n_out]`
temporary is larger than one chunk besides the per-input results it returns. (With gradients, autograd keeps
every chunk's intermediates: training on long sequences goes through `EfficientVectorRouting`'s plain call,
whose backward pass is written by hand, instead; see `_lean.py`.)

Masks (True = ignore) are handled here for every variant. Unlike the reference, an input masked for every
output gets R = 0, hence zero credit, instead of a softmax over nothing (NaN for the whole sample).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

# Largest number of elements of one `[..., chunk, n_out]` tensor (1 MiB in float32): small enough that a
# chunk's temporaries stay in cache and are reused from the heap (larger chunks raised the peak resident memory
# of the paper's head by 45 MiB through heap fragmentation), large enough for efficient matrix products.
CHUNK_ELEMENTS = 2**18

# A plain call's chunks (`_call.py`) are this many times larger in reduced precision: the matrix products run
# about 3x faster there, so the per-chunk costs (the compiled kernels' calls, Python) weigh more. On the paper head's configuration under
# bfloat16 autocast (`benchmarks/bench_routing.py`), medians of 12 alternating forward+backward passes took
# 0.453 s with chunks of 2**18 elements and 0.387 s with 2**20; 2**19 and 2**21 were no better than these.
# `route()` keeps float32's chunks, which measured faster there (`EfficientVectorRouting._run`).
LOW_PRECISION_CHUNK_FACTOR = 4


class RowCredit(NamedTuple):
    """Credit of one chunk of inputs in one iteration."""

    phi: torch.Tensor  # [...ij]
    R: torch.Tensor  # [...ij]
    S: torch.Tensor | None  # [...ij], None in the first iteration


def add_betas(
    module: nn.Module,
    n_inp: int,
    n_out: int,
    d_inp: int | None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Give a vector routing the D-step's parameters, named and drawn as the reference does: `beta_use` and
    `beta_ign [n_inp, n_out]` for a fixed number of inputs, else `compute_beta_use` and `compute_beta_ign`
    (`Linear(d_inp, n_out)`), which compute them from each input."""
    kw = {"device": device, "dtype": dtype}
    if n_inp > 0:
        module.beta_use = nn.Parameter(torch.empty(n_inp, n_out, **kw).normal_())
        module.beta_ign = nn.Parameter(torch.empty(n_inp, n_out, **kw).normal_())
    else:
        module.compute_beta_use = nn.Linear(d_inp, n_out, **kw)
        module.compute_beta_ign = nn.Linear(d_inp, n_out, **kw)


class EMState(NamedTuple):
    """What the loop leaves behind after its last iteration."""

    x_out: torch.Tensor  # [...jh]
    phi: torch.Tensor  # [...ij]
    R: torch.Tensor  # [...ij]
    pred_x_inp: torch.Tensor | None  # what `predict` gave the last iteration ([...jd]); None after one
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


def chunk_rows(batch_numel: int, n_out: int, low: torch.dtype | None = None) -> int:
    """Inputs per chunk, so that each `[..., chunk, n_out]` tensor holds at most `CHUNK_ELEMENTS` elements
    (`LOW_PRECISION_CHUNK_FACTOR` times as many when matrix products run in a lower precision `low`)."""
    elements = CHUNK_ELEMENTS * (1 if low is None else LOW_PRECISION_CHUNK_FACTOR)
    return max(1, elements // max(1, batch_numel * n_out))


def split_rows(tensor: torch.Tensor | None, rows: int, n_inp: int) -> list[torch.Tensor | None]:
    """Split a per-input tensor `[..., n_inp, k]` into chunks of `rows` inputs (views, no copies).

    A tensor that does not vary over inputs (size 1 on that axis, or None) is repeated for every chunk.
    `split` rather than slicing keeps the backward pass to one concatenation of the chunks' gradients.
    """
    n_chunks = -(-n_inp // rows)
    if tensor is None or tensor.shape[-2] == 1:
        return [tensor] * n_chunks
    return list(tensor.split(rows, dim=-2))


def credit(
    f_a_inp: torch.Tensor,
    beta_use: torch.Tensor,
    beta_ign: torch.Tensor,
    R: torch.Tensor,
    S: torch.Tensor | None = None,
) -> RowCredit:
    """The D-step and the credit of the M-step, fused: `phi = f(a) * (R * (beta_use + beta_ign) - beta_ign)`.

    Args:
        f_a_inp: activations f(a) `[..., n_inp, 1]` (or `[..., n_inp, n_out]` when masked).
        beta_use, beta_ign: net benefit and cost per unit of data, `[..., n_inp, n_out]` (broadcastable).
        R: routing probabilities `[..., n_inp, n_out]` (broadcastable).
        S: the scores R came from, passed through to the result.
    """
    phi = f_a_inp * (R * (beta_use + beta_ign) - beta_ign)  # [...ij]
    return RowCredit(phi, R.expand(phi.shape), S)


def run_vector_routing(
    n_chunks: int,
    n_iters: int,
    row_credit: Callable[[int, torch.Tensor | None], RowCredit],
    partial_vote: Callable[[int, torch.Tensor], tuple[torch.Tensor, ...]],
    finish_vote: Callable[[tuple[torch.Tensor, ...]], torch.Tensor],
    predict: Callable[[torch.Tensor], torch.Tensor],
) -> EMState:
    """Run `n_iters` E-D-M iterations over the inputs, chunk by chunk; keep the last one's per-input results.

    Args:
        n_chunks: number of chunks of inputs (see `split_rows`), walked in order.
        n_iters: number of iterations (>= 1).
        row_credit: (chunk index, what `predict` gave, or None in the first iteration) -> the chunk's
            `RowCredit`.
        partial_vote: (chunk index, its phi) -> the chunk's terms of the M-step's sums over inputs.
        finish_vote: the summed terms -> outputs `[..., n_out, d_out]`.
        predict: outputs -> what `row_credit` needs of them: predicted inputs `[..., n_out, d_inp]` (or, for
            scalar votes, the outputs themselves).
    """
    pred_x_inp = x_out = None
    for iter_num in range(n_iters):
        if iter_num > 0:
            pred_x_inp = predict(x_out)  # [...jd]
        sums, kept = None, []
        for k in range(n_chunks):
            row = row_credit(k, pred_x_inp)
            terms = partial_vote(k, row.phi)
            sums = terms if sums is None else tuple(a + b for a, b in zip(sums, terms))
            if iter_num == n_iters - 1:
                kept.append(row)
        x_out = finish_vote(sums)  # [...jh]
    phi, R, S = (_join([getattr(row, k) for row in kept]) for k in ("phi", "R", "S"))  # [...ij] each
    return EMState(x_out, phi, R, pred_x_inp, S)


def _join(chunks: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The chunks' per-input tensors as one contiguous `[..., n_inp, n_out]` tensor (a single contiguous chunk
    is not copied)."""
    if chunks[0] is None or len(chunks) == 1:
        return None if chunks[0] is None else chunks[0].contiguous()  # [...ij]
    return torch.cat(chunks, dim=-2)  # [...ij]
