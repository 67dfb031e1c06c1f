"""EfficientVectorRouting's plain call with a hand-written backward pass (Heinsen 2022, Algorithm 1 with the
efficient A, F, G, S of Section 3), so training on a long sequence needs little more memory than the sequence.

A plain call needs only `x_out`. `LeanRouting` runs the E-, D- and M-steps chunk by chunk of inputs without
autograd and keeps, besides `x_inp` itself (not a copy): a_inp `[..., n_inp]`, the betas (`beta_use +
beta_ign` and `beta_ign`, computed ones `[..., n_inp, n_out]` each), the scores `z = x_inp pred_x_inp^T`
`[..., n_inp, n_out]` of each iteration after the first, and the small tensors: each iteration's M-step sums
over inputs `A = phi^T x_inp` `[..., n_out, d_inp]` and `s = sum_i phi` `[..., n_out]`, the outputs computed
from them, and (only if the input needs its gradient) pred_x_inp.

The backward pass walks the iterations from the last to the first. For each, the gradients of `_small.py` give
gA and gs (and those of W_F*, B_F2, W_G*, B_G2); then each chunk's R and phi are recomputed and the gradients
derived by hand below are accumulated into the other parameters' (and, when it needs them, the input's)
gradients. With f = sigmoid(a) (zero on masked pairs), bsum = beta_use + beta_ign,
phi = f * (R * bsum - beta_ign), u = z * W_S + B_S and R = softmax(logsigmoid(u)) over outputs:

    gphi = x gA^T + gs                  ga        = (1 - sigmoid(a)) * sum_j gphi * phi
    gbeta_use = gphi * f * R            gbeta_ign = gbeta_use - gphi * f
    gR = gphi * f * bsum                gu        = R * (gR - sum_j gR * R) * sigmoid(-u)
    gz = gu * W_S                       gpred_x_inp = gz^T x,   gx = phi gA + gz pred_x_inp

a_inp and computed betas depend on x, and every iteration adds to their gradients; these are summed over the
passes (in a `[..., n_inp]` buffer for a_inp; for the betas, beta_use's in the storage of the z the pass has
just used for the last time, and `gphi * f` in the storage of beta_ign once the second iteration's pass, the
last to need the betas, is done) and turned into gradients of W_A, B_A, the betas' Linear layers and x in the
last pass (the first iteration's), one matrix product per chunk. That pass needs of the betas only the
first iteration's `R * bsum - beta_ign`, which takes the storage of bsum.
Masked pairs have R = 0 and f = 0, so every formula above gives them zero gradient, including inputs masked
for every output. Each chunk's elementwise work (R, phi and the gradients above but the matrix products) is in
`_fused.py`, which compiles it under reduced precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..efficient import activation_scores, normalize, predict, uniform_routing, vote
from ._call import SMALL, Call, make_call
from ._fused import backward_chunk, forward_chunk, fused
from ._precision import add_matmul_, addmm, autocast_as, autocast_off, matmul_into, product, to_low
from ._scalar import scalar_backward, scalar_route
from ._small import norm_backward, predict_backward, vote_backward


def lean_forward(
    module: nn.Module, x_inp: torch.Tensor, pair_mask: torch.Tensor | None, scale: torch.Tensor
) -> torch.Tensor:
    """`x_out [..., n_out, d_out]` of `x_inp [..., n_inp, d_inp]`, differentiable at the cost described above.

    Layers whose per-input votes are smaller than the M-step's sums (`d_out == 1` over few inputs, see
    `_route.votes_are_smaller`) route by their votes instead, see `_scalar.py`.

    Args:
        module: the `EfficientVectorRouting` layer (its configuration and parameters).
        x_inp: input vectors `[..., n_inp, d_inp]`.
        pair_mask: bool `[..., n_inp, n_out]` (broadcastable), True = pair ignored; or None.
        scale: the length scaling `n ** -0.5` per sample, `[..., 1]` (or `[1]`).
    """
    call = make_call(module, x_inp, pair_mask, scale)
    params = list(call.p.values())
    if torch.is_grad_enabled() and (x_inp.requires_grad or any(p.requires_grad for p in params)):
        return LeanRouting.apply(call, x_inp, *params)
    with autocast_off(x_inp.device):
        x_out = (scalar_route if call.scalar else _route)(call, keep=False)[0]
    call.release()
    return x_out


@dataclass
class _Kept:
    """What the forward pass keeps for the backward pass."""

    a_inp: torch.Tensor  # [bi]
    bsum: torch.Tensor  # beta_use + beta_ign: [bij] computed, or [ij] from parameters
    bign: torch.Tensor  # beta_ign: [bij] computed, or [ij] parameters
    z: list[torch.Tensor | None] = field(default_factory=list)  # [bij] of each iteration after the first
    # The small tensors: each iteration's sums (A [bjd], s [bj]) and x_out before normalization [bjh], and the
    # pred_x_inp [bjd] of each iteration after the first if the input needs its gradient.
    sums: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    outs: list[torch.Tensor] = field(default_factory=list)
    preds: list[torch.Tensor] = field(default_factory=list)

    def betas(self, samples: slice, inputs: slice) -> tuple[torch.Tensor, torch.Tensor]:
        if self.bsum.dim() == 2:
            return self.bsum[inputs], self.bign[inputs]  # [ij], [ij]
        return self.bsum[samples, inputs], self.bign[samples, inputs]  # [bij], [bij]


def _route(call: Call, keep: bool, keep_preds: bool = False) -> tuple[torch.Tensor, _Kept | None]:
    """The forward pass, without autograd: `x_out [..., n_out, d_out]`, and what the backward pass needs if
    `keep` (with pred_x_inp if `keep_preds`).
    """
    m, p, x = call.module, call.p, call.x
    samples, n, d = x.shape
    j, small = m.n_out, call.small()
    a_inp = x.new_empty(samples, n)  # [bi]
    if m.n_inp > 0:
        kept = _Kept(a_inp, p["beta_use"] + p["beta_ign"], p["beta_ign"])  # [ij] each
    else:
        weight, bias = call.beta_weights()  # [2j, d] (cast once for all chunks), [2j]
        betas = x.new_empty(samples, n, 2 * j)  # [bi(2j)]
        kept = _Kept(a_inp, betas[..., :j], betas[..., j:])  # [bij] each
    x_out = P = None
    # The small tensors of all iterations in one allocation each, not one per iteration: fewer blocks that live
    # until the backward pass among the temporaries of later layers, pinning the heap memory those free.
    A_all, s_all = x.new_zeros(m.n_iters, samples, j, d), x.new_zeros(m.n_iters, samples, j)  # [tbjd], [tbj]
    outs_all = x.new_empty(m.n_iters, samples, j, m.d_out) if keep else None  # [tbjh]
    preds_all = x.new_empty(m.n_iters - 1, samples, j, d) if keep and keep_preds else None  # [tbjd]
    for t in range(m.n_iters):
        if t > 0:
            with autocast_as(x.device, call.low):
                P = predict(x_out, small.W_G1, small.W_G2, small.B_G2)  # [bjd]
            if preds_all is not None:
                P = preds_all[t - 1].copy_(P)
                kept.preds.append(P)
            P_low = to_low(P, call.low)  # [bjd], cast once for all chunks
        z_all = x.new_empty(samples, n, j) if keep and t > 0 else None  # [bij]
        A, s = A_all[t], s_all[t]  # [bjd], [bj]
        for sb, si in call.chunks:
            x_c, x_low, mask = x[sb, si], call.x_low[sb, si], call.mask_of(sb, si)  # [bid], [bid], [bij]
            if t == 0:  # a_inp and the betas, once per input
                x_a = x_low if m.n_inp < 0 else x_c  # a matrix-vector product reads the smaller copy
                a_inp[sb, si] = activation_scores(
                    x_a, call.flat_scale[sb], call.rows("W_A", si), call.rows("B_A", si)
                )
                if m.n_inp < 0:
                    beta_c = betas[sb, si].view(-1, 2 * j)  # [(bi)(2j)]
                    addmm(bias, x_low.reshape(-1, d), weight.mT, call.low, out=beta_c)
                    beta_c[:, :j] += beta_c[:, j:]  # beta_use + beta_ign
            z = None
            if t > 0 and z_all is None:
                z = product(x_low, P_low[sb].mT, call.low)  # [bij]
            elif t > 0:
                z = matmul_into(z_all[sb, si], x_low, P_low[sb].mT, call.low)  # [bij]
            phi_T, phi_sum = fused(
                forward_chunk, call.low, a_inp[sb, si], mask, *kept.betas(sb, si), m.CONST_ones_over_n_out, z,
                call.rows("B_S", si), call.rows("W_S", si),
            )  # fmt: skip
            add_matmul_(A[sb], phi_T, x_low, call.low)  # [bjd]
            s[sb] += phi_sum  # [bj]
        with autocast_as(x.device, call.low):  # the small products as autocast would compute them
            x_out = vote(A, s, call.flat_scale, small.W_F1, small.W_F2, small.B_F2)  # [bjh]
        if keep:
            x_out = outs_all[t].copy_(x_out)
            kept.sums.append((A, s))
            kept.outs.append(x_out)
            kept.z.append(z_all)
    x_out = normalize(x_out) if m.normalize else x_out  # [bjh]
    return x_out.view(*call.batch, *x_out.shape[1:]), kept if keep else None


class LeanRouting(torch.autograd.Function):
    """`x_out` of one call, with the module docstring's backward pass (or `_scalar.py`'s). Inputs: call, x_inp,
    parameters."""

    @staticmethod
    def forward(ctx, call: Call, x_inp: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        with autocast_off(x_inp.device):
            if call.scalar:
                x_out, ctx.kept = scalar_route(call, keep=True)
            else:
                x_out, ctx.kept = _route(call, keep=True, keep_preds=x_inp.requires_grad)
        ctx.call = call
        return x_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        need_x, need_params, keep_graph = ctx.needs_input_grad[1], ctx.needs_input_grad[2:], _keeps_graph()
        # Autograd frees a node's saved tensors after its backward, but not its ctx's attributes: without
        # `retain_graph`, drop what the forward kept now, not when the whole backward pass is over.
        call, kept = (ctx.call, ctx.kept) if keep_graph else (vars(ctx).pop("call"), vars(ctx).pop("kept"))
        need = {name for name, needs in zip(call.p, need_params) if needs}
        with autocast_off(g_out.device):  # the precision of matrix products is the forward pass's, in `call`
            if call.scalar:
                grads, gx = scalar_backward(call, kept, g_out, need, need_x)
            else:
                grads, gx = _backward(call, kept, g_out, need, need_x, keep_graph)
        # As with autograd, parameters a single iteration never uses (no E-step) get no gradient.
        unused = {"W_G1", "W_G2", "B_G2", "W_S", "B_S"} if call.module.n_iters == 1 else set()
        param_grads = [
            grads.get(k) if need and k not in unused else None for k, need in zip(call.p, need_params)
        ]
        gx = None if gx is None else gx.view(g_out.shape[:-2] + gx.shape[-2:]).to(call.x_dtype)
        if not keep_graph:  # no later backward pass of this call will need its input
            call.release()
        return None, gx, *param_grads


def _keeps_graph() -> bool:
    """Whether this backward pass was asked to keep the graph (`retain_graph`; gradcheck, for one, does).

    Asks a private function of autograd's engine; if it ever goes away, the answer is a safe yes.
    """
    keeps_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", lambda: True)
    return bool(keeps_graph())


@dataclass
class _Buffers:
    """Gradients summed over the chunks and iterations of the backward pass."""

    grads: dict[str, torch.Tensor]  # of the parameters by name (of those of `SMALL`, only the ones needed)
    gx: torch.Tensor | None  # [bid] if the input needs its gradient
    ga: torch.Tensor | None  # [bi]: a_inp's, from the passes before the last (several iterations only)
    # [bij]: sum of gphi * f over the passes before the second iteration's (computed betas, three iterations
    # or more only)
    g_pf: torch.Tensor | None
    g_use: torch.Tensor | None = None  # [bij]: beta_use's over those passes, in the storage of a spent z


def _backward(
    call: Call, kept: _Kept, g_out: torch.Tensor, need: set[str], need_x: bool, keep_graph: bool
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Gradients of every parameter (by name; those of `SMALL` only if in `need`) and, if `need_x`, of the
    input (`[b, n_inp, d_inp]`).

    Unless the graph is to be kept for another backward pass, each iteration's z is dropped (or, with computed
    betas, its storage reused for their gradient) as soon as its pass is done, and computed betas are
    overwritten (see `_betas_and_a_backward`).
    """
    if keep_graph:
        z = [None if z is None else z.clone() for z in kept.z]
        kept = replace(kept, z=z, bsum=kept.bsum.clone(), bign=kept.bign.clone())
    m, x, small = call.module, call.x, call.small()
    samples, n, d = x.shape
    several, variable = m.n_iters > 1, m.n_inp < 0
    buffers = _Buffers(
        # All at once before anything else, so that gradients (kept until the optimizer's step) do not end up
        # between the pass's temporaries and pin their heap memory.
        grads={name: torch.zeros_like(p) for name, p in call.p.items() if name not in SMALL or name in need},
        gx=torch.zeros_like(x) if need_x else None,
        ga=x.new_zeros(samples, n) if several else None,
        g_pf=x.new_zeros(samples, n, m.n_out) if m.n_iters > 2 and variable else None,
    )
    g = g_out.reshape(kept.outs[-1].shape)  # [bjh]
    if m.normalize and m.d_out > 1:
        g = norm_backward(kept.outs[-1], g)  # [bjh]
    gA, gs = vote_backward(*kept.sums[-1], call.flat_scale, small, g, buffers.grads, call.low)
    for t in reversed(range(m.n_iters)):
        P = kept.preds[t - 1] if t > 0 and need_x else None  # [bjd]
        gP = _pass_backward(call, kept, t, gA, gs, P, buffers)
        if t > 0:
            buffers.g_use, kept.z[t] = (kept.z[t] if variable else None), None
            g = predict_backward(kept.outs[t - 1], small, gP, buffers.grads, call.low)  # [bjh]
            gA, gs = vote_backward(*kept.sums[t - 1], call.flat_scale, small, g, buffers.grads, call.low)
    return buffers.grads, buffers.gx


def _pass_backward(
    call: Call,
    kept: _Kept,
    t: int,
    gA: torch.Tensor,
    gs: torch.Tensor,
    P: torch.Tensor | None,
    buffers: _Buffers,
) -> torch.Tensor | None:
    """Backward pass of iteration t over all chunks, given gA `[b, n_out, d_inp]` and gs `[b, n_out]`.

    Returns the gradient of `pred_x_inp` (`[b, n_out, d_inp]`; None for the first iteration).
    """
    m, gx, grads, low = call.module, buffers.gx, buffers.grads, call.low
    gP = None if t == 0 else torch.zeros_like(gA)  # [bjd]
    gA_low, P_low = to_low(gA, low), None if P is None else to_low(P, low)  # [bjd] each, cast once
    phi_in_bsum = t == 0 and m.n_inp < 0 and m.n_iters > 1  # the pass of t = 1 left R * bsum - beta_ign there
    sum_dims = (0,) if m.n_inp > 0 else (0, 1)
    for sb, si in call.chunks:
        x_low, mask, a_c = call.x_low[sb, si], call.mask_of(sb, si), kept.a_inp[sb, si]  # [bid], [bij], [bi]
        z = kept.z[t][sb, si] if t > 0 else None  # [bij]
        if low is None:
            gphi, gs_c = addmm(gs[sb].unsqueeze(-2), x_low, gA[sb].mT, low), None  # [bij]
        else:
            gphi, gs_c = product(x_low, gA_low[sb].mT, low), gs[sb].unsqueeze(-2)  # [bij], [b1j]
        phi, ga, gpf, g_use, gz_T, gz, gW_S, gB_S = fused(
            backward_chunk, low, gphi, gs_c, a_c, mask, *kept.betas(sb, si), m.CONST_ones_over_n_out, z,
            call.rows("B_S", si), call.rows("W_S", si), phi_in_bsum, gx is not None, sum_dims,
        )  # fmt: skip
        if gx is not None:
            add_matmul_(gx[sb, si], phi, gA_low[sb], low)  # [bid]
        if t > 0:
            (grads["W_S"] if m.n_inp < 0 else grads["W_S"][si]).add_(gW_S)
            (grads["B_S"] if m.n_inp < 0 else grads["B_S"][si]).add_(gB_S)
            add_matmul_(gP[sb], gz_T, x_low, low)  # [bjd]
            if gx is not None:
                add_matmul_(gx[sb, si], gz, P_low[sb], low)  # [bid]
        _betas_and_a_backward(call, kept, t, sb, si, g_use, gpf, ga, buffers)
    return gP


def _betas_and_a_backward(
    call: Call,
    kept: _Kept,
    t: int,
    sb: slice,
    si: slice,
    g_use: torch.Tensor,
    gpf: torch.Tensor,
    ga: torch.Tensor,
    buffers: _Buffers,
) -> None:
    """Pass one chunk's gradients of the betas and of a_inp `[b, i]` on to the parameters and x.

    The betas' are `g_use = gphi * f * R` (beta_use's) and `g_use - gpf` with `gpf = gphi * f` (beta_ign's),
    `[b, i, n_out]` each. Computed betas and a_inp depend on x, so their gradients are summed over the passes
    first (beta_use's in the storage of z, which the pass has just used for the last time; gpf in that of
    beta_ign from the pass of t = 1 on, which also leaves in that of bsum the first iteration's `R * bsum -
    beta_ign`), and the last pass (t = 0) turns the sums into gradients of the parameters and of x, with one
    matrix product each per chunk.
    """
    m, x_c, gx, grads = call.module, call.x[sb, si], buffers.gx, buffers.grads
    d, j = x_c.shape[-1], m.n_out
    if m.n_inp > 0:
        call.add_rows(grads["beta_use"], si, g_use)
        call.add_rows(grads["beta_ign"], si, g_use)
        call.add_rows(grads["beta_ign"], si, -gpf)
    elif t > 0:
        spent_z = kept.z[t][sb, si]  # [bij]
        if buffers.g_use is None:
            spent_z.copy_(g_use)
        else:
            torch.add(g_use, buffers.g_use[sb, si], out=spent_z)
        if t > 1:
            buffers.g_pf[sb, si] += gpf  # [bij]
        else:  # the last pass to need the betas
            bsum, bign = kept.betas(sb, si)  # [bij] each
            bsum.mul_(uniform_routing(m.CONST_ones_over_n_out, call.mask_of(sb, si))).sub_(bign)
            if buffers.g_pf is None:
                bign.copy_(gpf)
            else:
                torch.add(gpf, buffers.g_pf[sb, si], out=bign)
    if t > 0:
        buffers.ga[sb, si] += ga  # [bi]
        return
    if buffers.ga is not None:
        ga = ga + buffers.ga[sb, si]  # [bi]
    if m.n_inp < 0:
        if buffers.g_use is not None:
            g_use += buffers.g_use[sb, si]  # [bij]
            gpf += kept.bign[sb, si]  # [bij]
        g_betas = torch.cat([g_use, g_use - gpf], dim=-1).view(-1, 2 * j)  # [(bi)(2j)]
        gx_flat = None if gx is None else gx[sb, si].view(-1, d)  # [(bi)d]
        call.betas_backward(g_betas, call.x_low[sb, si].reshape(-1, d), grads, gx_flat)
    ga_scaled = ga * call.flat_scale[sb]  # [bi]
    call.add_rows(grads["B_A"].unsqueeze(-1), si, ga.unsqueeze(-1))
    if m.n_inp < 0:
        # From the float32 input even in reduced precision: bfloat16's transposed matrix-vector product is
        # twice as slow here as float32's, which reads twice the bytes.
        grads["W_A"][0].addmv_(x_c.reshape(-1, d).mT, ga_scaled.flatten())  # [d]
    else:
        grads["W_A"][si] += (ga_scaled.unsqueeze(-1) * x_c).sum(dim=0)  # [id], a temporary like vecdot's
    if gx is not None:
        gx[sb, si].addcmul_(ga_scaled.unsqueeze(-1), call.rows("W_A", si))  # [bid]
