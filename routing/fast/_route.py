"""`EfficientVectorRouting.route()` on the fast path: Algorithm 1 (`routing/efficient.py`) over chunks of inputs,
with autograd, keeping the last iteration's per-input results.

Every quantity of the E-, D- and M-steps is computed per input, except the M-step's sums over inputs. So the
loop walks the inputs in chunks and accumulates those sums: without gradients no `[..., i, j]` temporary is
larger than one chunk besides the per-input results it returns. (With gradients autograd keeps every chunk's
intermediates: training on long sequences goes through the plain call instead, whose backward pass is written
by hand, see `_lean.py`.)

Layers with one output feature over few inputs (`d_out == 1`, `3 n_inp <= d_inp`, like a classifier's last
routing) route by their scalar votes, which are then smaller than the M-step's sums (see `scalar_votes`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import chunk_elements
from ..efficient import LastIteration, credit, e_step, predict, uniform_routing, vote
from ._precision import low_precision

# A plain call's chunks (`_call.py`) are this many times larger in reduced precision: the matrix products run
# about 3x faster there, so the per-chunk costs (the compiled kernels' calls, Python) weigh more (see
# docs/performance.md). `route()` keeps float32's chunks, which measured faster there.
LOW_PRECISION_CHUNK_FACTOR = 4


def chunk_rows(batch_numel: int, n_out: int, low: torch.dtype | None = None) -> int:
    """Inputs per chunk, so that each `[..., chunk, n_out]` tensor holds at most `chunk_elements()` elements
    (`LOW_PRECISION_CHUNK_FACTOR` times as many when matrix products run in a lower precision `low`)."""
    elements = chunk_elements() * (1 if low is None else LOW_PRECISION_CHUNK_FACTOR)
    return max(1, elements // max(1, batch_numel * n_out))


def votes_are_smaller(layer: nn.Module, x_inp: torch.Tensor) -> bool:
    """Whether scalar votes and scores (`3 n_inp` numbers per output) are smaller than pred_x_inp's."""
    return layer.d_out == 1 and 3 * x_inp.shape[-2] <= layer.d_inp


def scalar_votes(
    layer: nn.Module, x_inp: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """For `d_out == 1`: the votes `V [..., i, j]`, and U, Q `[..., i, j]` with which the E-step's dot products
    are `z = U * x_out + Q` (None after a single iteration).

    With one output feature, `x_out = sum_i phi_i V_i` with `V = scale * (x_inp * W_F2^T) W_F1^T + B_F2^T`,
    and `x_inp pred_x_inp^T = U * x_out + Q` with `U = (x_inp * W_G1) W_G2^T`, `Q = x_inp B_G2^T`: three
    matrix products, and no `[..., j, d]` tensor is needed. Scaling x_inp by the one column of W_F2 (or row of
    W_G1) first, rather than multiplying the weights, leaves autograd `[..., i, d]` tensors to keep, not
    `[j, d]` ones, and gives every parameter a gradient of its own storage.
    """
    V = ((x_inp * layer.W_F2.mT) @ layer.W_F1.mT) * scale.unsqueeze(-1) + layer.B_F2.mT  # [...ij]
    if layer.n_iters == 1:  # no E-step: U, Q and G's parameters are left out, so those get no gradient
        return V, None, None
    U = (x_inp * layer.W_G1) @ layer.W_G2.mT  # [...ij]
    return V, U, x_inp @ layer.B_G2.mT  # [...ij] each


def _split(tensor: torch.Tensor | None, rows: int, n_chunks: int) -> list[torch.Tensor | None]:
    """A per-input tensor `[..., i, k]` in chunks of `rows` inputs (views); one that does not vary over inputs
    (size 1 on that axis, or None) is repeated for every chunk. `split` rather than slicing keeps autograd's
    backward pass to one concatenation of the chunks' gradients."""
    if tensor is None or tensor.shape[-2] == 1:
        return [tensor] * n_chunks
    return list(tensor.split(rows, dim=-2))


def _join(chunks: list[torch.Tensor]) -> torch.Tensor:
    """The chunks' per-input tensors as one contiguous `[..., i, j]` tensor (one chunk is not copied)."""
    return chunks[0].contiguous() if len(chunks) == 1 else torch.cat(chunks, dim=-2)


def route_in_chunks(
    layer: nn.Module,
    x_inp: torch.Tensor,
    pair_mask: torch.Tensor | None,
    scale: torch.Tensor,
    f_a_inp: torch.Tensor,
) -> LastIteration:
    """Algorithm 1 over chunks of inputs (or by scalar votes), with autograd.

    Args:
        layer: the `EfficientVectorRouting` layer (its configuration and parameters).
        x_inp: input vectors `[..., i, d]`.
        pair_mask: bool `[..., i, j]` (broadcastable), True = pair ignored; or None.
        scale: the length scaling `n ** -0.5` per sample, `[..., 1]` (or `[1]`).
        f_a_inp: activations f(a) `[..., i, 1]` (or `[..., i, j]` when masked).
    """
    n = x_inp.shape[-2]
    scalar = votes_are_smaller(layer, x_inp)
    # float32's chunk size even under autocast (see LOW_PRECISION_CHUNK_FACTOR)
    rows = n if scalar else chunk_rows(x_inp[..., 0, 0].numel(), layer.n_out)
    n_chunks = -(-n // rows)
    # Under autocast, x_inp is cast for its matrix products once, not by each of them.
    low = low_precision(x_inp.device, x_inp.dtype)
    x_mm = x_inp if low is None else x_inp.to(low)  # [...id]
    if layer.n_inp > 0:
        beta_use, beta_ign = layer.beta_use, layer.beta_ign  # [ij] each
    else:  # both betas from one matrix product, once for all iterations
        weight = torch.cat([layer.compute_beta_use.weight, layer.compute_beta_ign.weight])  # [2j, d]
        bias = torch.cat([layer.compute_beta_use.bias, layer.compute_beta_ign.bias])  # [2j]
        beta_use, beta_ign = torch.nn.functional.linear(x_mm, weight, bias).chunk(2, dim=-1)  # [...ij] each
    per_input = (x_mm, f_a_inp, pair_mask, layer.W_S, layer.B_S, beta_use, beta_ign)
    x_rows, f_rows, mask_rows, W_S_rows, B_S_rows, use_rows, ign_rows = (
        _split(t, rows, n_chunks) for t in per_input
    )  # [...id], [...i1] or [...ij], [...ij], [ij], [ij], [...ij], [...ij] each
    if scalar:
        V_1, U, Q = scalar_votes(layer, x_inp, scale)  # [...ij] each
    pred = x_out = None
    for t in range(layer.n_iters):
        # What the E-step needs of the outputs: with scalar votes x_out itself [...j1], else pred_x_inp [...jd].
        if t > 0:
            pred = x_out if scalar else predict(x_out, layer.W_G1, layer.W_G2, layer.B_G2)
        sums, last = None, []
        for k in range(n_chunks):
            # E-step
            S = None
            if t == 0:
                R = uniform_routing(layer.CONST_ones_over_n_out, mask_rows[k])  # [j] or [...ij]
            else:
                z = U * pred.mT + Q if scalar else x_rows[k] @ pred.mT  # [...ij]
                R, S, _ = e_step(z, W_S_rows[k], B_S_rows[k], mask_rows[k])  # [...ij] each
            # D-step and the M-step's credit
            phi = credit(f_rows[k], R, use_rows[k] + ign_rows[k], ign_rows[k])  # [...ij]
            # M-step's sums over inputs; under autocast the product comes in its lower precision, the sum over
            # chunks is in phi's.
            if scalar:
                terms = ((phi * V_1).sum(dim=-2).unsqueeze(-1),)  # [...j1]
            else:
                terms = ((phi.mT @ x_rows[k]).to(phi.dtype), phi.sum(dim=-2))  # [...jd], [...j]
            sums = terms if sums is None else tuple(a + b for a, b in zip(sums, terms))
            if t == layer.n_iters - 1:
                last.append((phi, R.expand(phi.shape), S))
        x_out = sums[0] if scalar else vote(*sums, scale, layer.W_F1, layer.W_F2, layer.B_F2)  # [...jh]
    pred_x_inp = pred  # [...jd], None after a single iteration
    if scalar and pred is not None:  # scalar votes need no pred_x_inp: computed for the result only
        pred_x_inp = predict(pred, layer.W_G1, layer.W_G2, layer.B_G2)  # [...jd]
    phi, R, S = ([chunk[k] for chunk in last] for k in range(3))
    return LastIteration(x_out, _join(phi), _join(R), pred_x_inp, None if S[0] is None else _join(S))
