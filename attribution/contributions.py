"""Exact contributions: each input's share of a routing chain's outputs, with phi and norms held.

A routing's output (Heinsen 2022, Algorithm 1, M-step) is the phi-weighted sum of its votes, `u_j = sum_i
phi_ij V_ij` with `V_ij = scale * (x_i * W_F1_j) @ W_F2 + B_F2_j`, then normalized per output vector. Hold
every phi and every normalization's standard deviation at their forward values and the vote sum, the
normalization (mean subtraction is linear) and so the whole chain are affine in the chain's inputs. Each output
then splits exactly into one term per input plus bias terms (`B_F2` of every routing; the head's `B`):

    output_m = sum_i <x_i, g_mi> + bias_m,

where `g_mi` is the linear map of the held chain, walked back from output m (no autograd: a few small matrix
products per routing). phi says how much each input's vote counts; a contribution also says which way the
vote points, and it is what the class score is made of. Bias terms are reported beside the contributions,
never spread over inputs.

Shape letters: `m` targets (explained outputs), `i` inputs, `j` a routing's outputs, `d` input features,
`h` output features, `p` positions, `l` depths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from creditlens.routing import EfficientVectorRouting, HeadOutput, RoutingHead, VectorRoutingOutput

# F.layer_norm's default, used by the head's input norm.
_EPS = 1e-5
# Largest `[..., m, n_inp, n_hid]` temporary (64 MiB in float32); the head's classes are taken in chunks.
_CHUNK_ELEMENTS = 2**24


@dataclass(frozen=True)
class Contributions:
    """Exact contributions of a chain's inputs to its explained outputs.

    Attributes:
        values: `[..., n_inp, n_sel]` (a head: `[..., n_pos, d_depth, n_sel]`) contribution of each input to
            each explained output; zero on padding and masked inputs.
        bias: `[..., n_sel]` what the bias terms add, so that `values` summed over inputs plus `bias` equals
            each output.
        grad: with `grad=True`, `[..., n_inp, n_sel, d_inp]` (a head: `[..., n_pos, d_depth, n_sel, d_emb]`)
            the held chain's gradient of each explained output with respect to each input vector (a head:
            each hidden state), so that `values == (inputs * grad).sum(-1)`; else None.
    """

    values: torch.Tensor
    bias: torch.Tensor
    grad: torch.Tensor | None = None


def chain_contributions(
    layers: Sequence[EfficientVectorRouting],
    x_inp: torch.Tensor,
    outputs: Sequence[VectorRoutingOutput],
    pad_mask: torch.Tensor | None = None,
    select: torch.Tensor | None = None,
    *,
    grad: bool = False,
) -> Contributions:
    """Contributions of the inputs of a chain of routings to the elements of its last outputs.

    Args:
        layers: the routings, applied in order (each one's input is the previous one's `x_out`).
        x_inp: `[..., n_inp, d_inp]` the first routing's input.
        outputs: each routing's `route()` result of that forward pass.
        pad_mask: `[..., n_inp]` the padding mask the first routing was called with, or None.
        select: `[n_sel]` indices of the last routing's outputs to explain. Default: all.
        grad: also return the gradient of each explained element with respect to each input.

    Returns:
        `Contributions` with `values [..., n_inp, n_sel, d_out]` and `bias [..., n_sel, d_out]` (every element
        of each explained output vector; `d_out` of the last routing).
    """
    _check_chain(layers, outputs)
    last = layers[-1]
    select = torch.arange(last.n_out) if select is None else torch.as_tensor(select).flatten()
    with torch.no_grad(), torch.autocast(x_inp.device.type, enabled=False):
        dtype = torch.promote_types(outputs[-1].phi.dtype, torch.float32)
        n_sel, d_out = len(select), last.d_out
        # One target per explained element: m = (selected output, feature).
        G = x_inp.new_zeros(n_sel * d_out, last.n_out, d_out, dtype=dtype)  # [mjh]
        m = torch.arange(n_sel * d_out, device=x_inp.device)
        G[m, select.to(x_inp.device).repeat_interleave(d_out), m % d_out] = 1.0
        P, scale, bias = _walk_back(layers, outputs, pad_mask, G)
        x = x_inp.to(dtype)
        values = scale * _input_terms(x, outputs[0].phi.to(dtype), P)  # [...mi]
        values = values.transpose(-2, -1).unflatten(-1, (n_sel, d_out))  # [...i n h]
        g = None
        if grad:
            g = scale.unsqueeze(-1) * (outputs[0].phi.to(dtype).unsqueeze(-3) @ P)  # [...mid]
            g = g.movedim(-3, -2).unflatten(-2, (n_sel, d_out))  # [...i n h d]
    return Contributions(values, bias.unflatten(-1, (n_sel, d_out)), g)


def head_contributions(
    head: RoutingHead,
    hidden_states: torch.Tensor,
    out: HeadOutput,
    pad_mask: torch.Tensor | None = None,
    classes: torch.Tensor | None = None,
    *,
    target: torch.Tensor | None = None,
    grad: bool = False,
) -> Contributions:
    """Contributions of every hidden state a `RoutingHead` reads to its class scores.

    The head's input norm (LayerNorm without affine, its standard deviation held) and per-depth scale `W` are
    linear, so each hidden state `h` gets `<LayerNorm(h) * W, g>`; the per-depth shift `B` is a bias term.

    Args:
        head: the head.
        hidden_states: `[..., n_pos, d_depth, d_emb]` what it read.
        out: its `forward_with_phi(hidden_states, pad_mask)` result.
        pad_mask: `[..., n_pos]` True on padding, or None.
        classes: `[n_sel]` classes to explain. Default: all.
        target: instead of `classes`, `[B]` one class per sample (Captum's `target`); then `n_sel = 1`.
        grad: also return the gradient of each explained score with respect to each hidden state (held
            chain and held input norm), for carrying contributions into a backbone.

    Returns:
        `Contributions` with `values [..., n_pos, d_depth, n_sel]` and `bias [..., n_sel]`; `values.sum((-3,
        -2)) + bias` equals the scores of the explained classes.
    """
    if len(out.outputs) != len(head.route):
        raise ValueError("out must be the head's forward_with_phi result (it lacks the routings' outputs).")
    if target is not None and (classes is not None or hidden_states.dim() != 4):
        raise ValueError(
            "target (one class per sample) takes hidden states [B, n_pos, d_depth, d_emb], not classes."
        )
    classes = torch.arange(head.n_classes) if classes is None else torch.as_tensor(classes).flatten()
    with torch.no_grad(), torch.autocast(hidden_states.device.type, enabled=False):
        dtype = torch.promote_types(out.phis[0].dtype, torch.float32)
        h = hidden_states.to(dtype)
        x = (F.layer_norm(h, (head.d_emb,), eps=_EPS) * head.W.to(dtype)).flatten(-3, -2)  # [...id]
        row_pad = None if pad_mask is None else pad_mask.repeat_interleave(head.d_depth, dim=-1)  # [...i]
        if target is not None:  # one target per sample: [B, 1, n_classes, 1]
            G = F.one_hot(torch.as_tensor(target).to(x.device), head.n_classes).to(dtype)[:, None, :, None]
            parts = [_head_part(head, out, h, x, row_pad, G, grad)]
        else:
            # Classes in chunks, so that no `[..., m, n_inp, n_hid]` temporary outgrows _CHUNK_ELEMENTS.
            size = max(1, _CHUNK_ELEMENTS // out.phis[0].numel())
            eye = torch.eye(head.n_classes, dtype=dtype, device=x.device)
            parts = [
                _head_part(head, out, h, x, row_pad, eye[chunk, :, None], grad)
                for chunk in classes.split(size)
            ]
    values = torch.cat([part[0] for part in parts], dim=-1)  # [...plm]
    bias = torch.cat([part[1] for part in parts], dim=-1)  # [...m]
    g = torch.cat([part[2] for part in parts], dim=-2) if grad else None  # [...plmd]
    return Contributions(values, bias, g)


def _head_part(
    head: RoutingHead,
    out: HeadOutput,
    h: torch.Tensor,
    x: torch.Tensor,
    row_pad: torch.Tensor | None,
    G: torch.Tensor,
    grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """`head_contributions` for the targets `G [(B,) m, n_classes, 1]` (one-hot rows): values `[...plm]`, bias
    `[...m]`, grad `[...plmd]` or None.

    `h` is the hidden states and `x` the first routing's input without the shift B, both in the working dtype.
    """
    dtype = x.dtype
    P, scale, bias = _walk_back(list(head.route), out.outputs, row_pad, G)  # P: [...mjd]
    phi = out.phis[0].to(dtype)  # [...ij]
    values = scale * _input_terms(x, phi, P)  # [...mi]
    # The shift B of depth l reaches the routing through every row of that depth.
    phi_per_depth = phi.unflatten(-2, (-1, head.d_depth)).sum(-3)  # [...lj]
    B_P = head.B.to(dtype) @ P.mT  # [...mlj]
    bias = bias + scale.squeeze(-1) * (phi_per_depth.unsqueeze(-3) * B_P).sum((-2, -1))  # [...m]
    values = values.transpose(-2, -1).unflatten(-2, (-1, head.d_depth))  # [...plm]
    if not grad:
        return values, bias, None
    g_x = scale.unsqueeze(-1) * (phi.unsqueeze(-3) @ P)  # [...mid]
    g_x = g_x.movedim(-3, -2).unflatten(-3, (-1, head.d_depth)) * head.W.to(dtype).unsqueeze(-2)  # [...plmd]
    std = (h.var(-1, unbiased=False, keepdim=True) + _EPS).sqrt().unsqueeze(-2)  # [...pl11]
    return values, bias, (g_x - g_x.mean(-1, keepdim=True)) / std  # the held norm's gradient


def _walk_back(
    layers: Sequence[EfficientVectorRouting],
    outputs: Sequence[VectorRoutingOutput],
    pad_mask: torch.Tensor | None,
    G: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Walk the held chain back from targets `G [m, n_out, d_out]` (gradients at the last outputs).

    Returns `P [..., m, n_out_0, d_inp_0]`, the first routing's vote map (its input gradient is `scale * phi @
    P`), that routing's length `scale [..., 1, 1]` and `bias [..., m]`, what every routing's `B_F2` adds.
    """
    bias = 0.0
    for depth in range(len(layers) - 1, -1, -1):
        layer, out = layers[depth], outputs[depth]
        dtype = G.dtype
        phi = out.phi.to(dtype)  # [...ij]
        if out.std_out is not None:  # the normalization, held: centre, then divide by the forward's std
            G = (G - G.mean(-1, keepdim=True)) / out.std_out.to(dtype).unsqueeze(-3)  # [...mjh]
        bias = bias + (G * (phi.sum(-2).unsqueeze(-1) * layer.B_F2.to(dtype)).unsqueeze(-3)).sum((-2, -1))
        P = (G @ layer.W_F2.to(dtype).mT) * layer.W_F1.to(dtype)  # [...mjd]
        scale = _length_scale(phi.shape[-2], pad_mask if depth == 0 else None, dtype, phi.device)
        if depth > 0:
            G = scale * (phi.unsqueeze(-3) @ P)  # [...mih]: gradient at the previous routing's outputs
    return P, scale, bias


def _input_terms(x: torch.Tensor, phi: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """`[..., m, i]`: `sum_j phi_ij <x_i, P_mj>`, each input's term before the length scale.

    One product of the inputs `x [..., i, d]` with every target's vote map `P [..., m, j, d]` at once (twice as
    fast as a product per target on the bundled ViT's head), then weighted by `phi [..., i, j]`.
    """
    m, j = P.shape[-3], P.shape[-2]
    terms = x @ P.flatten(-3, -2).mT  # [...i(mj)]
    return (terms.unflatten(-1, (m, j)) * phi.unsqueeze(-2)).sum(-1).transpose(-2, -1)  # [...mi]


def _length_scale(
    n_inp: int, pad_mask: torch.Tensor | None, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The routing's `n ** -0.5` over real inputs, `[..., 1, 1]` (to scale `[..., m, i]` tensors)."""
    if pad_mask is None:
        return torch.full((1, 1), n_inp**-0.5, dtype=dtype, device=device)
    n_real = (~pad_mask).sum(-1).to(dtype)  # [...]
    return n_real.rsqrt()[..., None, None]  # [...11]


def _check_chain(layers: Sequence[EfficientVectorRouting], outputs: Sequence[VectorRoutingOutput]) -> None:
    if len(layers) == 0 or len(layers) != len(outputs):
        raise ValueError(
            f"give one output per routing: got {len(layers)} routings and {len(outputs)} outputs."
        )
    for layer in layers:
        if not isinstance(layer, EfficientVectorRouting):
            raise TypeError(
                f"exact contributions need EfficientVectorRouting layers, got {type(layer).__name__}."
            )
    for a, b in zip(layers[:-1], layers[1:]):
        if (a.n_out, a.d_out) != (max(b.n_inp, a.n_out), b.d_inp):
            raise ValueError("each routing's input must be the previous one's output (n_out, d_out).")
