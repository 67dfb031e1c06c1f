"""EfficientVectorRouting's plain call with a hand-written backward pass (Heinsen 2022, Algorithm 1 with the
efficient A, F, G, S of Section 3), so training on a long sequence needs little more memory than the sequence.

A plain call needs only `x_out`. `LeanRouting` runs the E-, D- and M-steps chunk by chunk of inputs without
autograd and keeps, besides `x_inp` itself (not a copy): a_inp `[..., n_inp]`, the betas (`beta_use +
beta_ign` and `beta_ign`, computed ones `[..., n_inp, n_out]` each), the scores `z = x_inp pred_x_inp^T`
`[..., n_inp, n_out]` of each iteration after the first, and the small tensors with their autograd graph:
each iteration's M-step sums over inputs `A = phi^T x_inp` `[..., n_out, d_inp]` and `s = sum_i phi`
`[..., n_out]`, the outputs computed from them, and pred_x_inp.

The backward pass walks the iterations from the last to the first. For each, autograd on the small graph gives
the gradients gA and gs (and those of W_F*, B_F2, W_G*, B_G2); then each chunk's R and phi are recomputed and
the gradients derived by hand below are accumulated into the other parameters' (and, when it needs them, the
input's) gradients. With f = sigmoid(a) (zero on masked pairs), bsum = beta_use + beta_ign,
phi = f * (R * bsum - beta_ign), u = z * W_S + B_S and R = softmax(logsigmoid(u)) over outputs:

    gphi = x gA^T + gs                  ga        = (1 - sigmoid(a)) * sum_j gphi * phi
    gbeta_use = gphi * f * R            gbeta_ign = gbeta_use - gphi * f
    gR = gphi * f * bsum                gu        = R * (gR - sum_j gR * R) * sigmoid(-u)
    gz = gu * W_S                       gpred_x_inp = gz^T x,   gx = phi gA + gz pred_x_inp

a_inp and computed betas depend on x, and every iteration adds to their gradients; these are summed in buffers
(`[..., n_inp]` for a_inp; for the betas, `gphi * f` in one `[..., n_inp, n_out]` buffer and beta_use's
gradient in the storage of the z the pass has just used for the last time) and turned into gradients of W_A,
B_A, the betas' Linear layers and x in the last pass (the first iteration's), one matrix product per chunk.
Masked pairs have R = 0 and f = 0, so every formula above gives them zero gradient, including inputs masked
for every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import attrgetter
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ._em import activation, chunk_rows, masked_softmax, uniform_routing

# Parameters after the M-step's sums: autograd differentiates `x_out` and `pred_x_inp` with respect to them.
_SMALL = ("W_F1", "W_F2", "B_F2", "W_G1", "W_G2", "B_G2")


def lean_forward(
    module: nn.Module, x_inp: torch.Tensor, pair_mask: torch.Tensor | None, scale: torch.Tensor
) -> torch.Tensor:
    """`x_out [..., n_out, d_out]` of `x_inp [..., n_inp, d_inp]`, differentiable at the cost described above.

    Args:
        module: the `EfficientVectorRouting` layer (its configuration and parameters).
        x_inp: input vectors `[..., n_inp, d_inp]`.
        pair_mask: bool `[..., n_inp, n_out]` (broadcastable), True = pair ignored; or None.
        scale: the length scaling `n ** -0.5` per sample, `[..., 1]` (or `[1]`).
    """
    batch, (n, d), n_out = tuple(x_inp.shape[:-2]), x_inp.shape[-2:], module.n_out
    samples = x_inp[..., 0, 0].numel()
    if pair_mask is not None and pair_mask[..., 0, 0].numel() > 1:
        pair_mask = pair_mask.expand(*batch, n, n_out)  # [...ij]
    names = _param_names(module)
    params = [attrgetter(name)(module) for name in names]  # as used, so parametrized weights work too
    call = _Call(
        module=module, p=dict(zip(names, params)), batch=batch, x=x_inp.reshape(samples, n, d).contiguous(),
        mask=None if pair_mask is None else pair_mask.reshape(-1, n, n_out),
        scale=scale, flat_scale=scale.expand(*batch, 1).reshape(-1, 1), chunks=_chunks(samples, n, n_out),
    )  # fmt: skip
    if torch.is_grad_enabled() and (x_inp.requires_grad or any(p.requires_grad for p in params)):
        return LeanRouting.apply(call, x_inp, *params)
    return _route(call, keep=False)[0]


def _param_names(m: nn.Module) -> tuple[str, ...]:
    if m.n_inp > 0:
        betas = ("beta_use", "beta_ign")
    else:
        betas = tuple(f"compute_beta_{k}.{w}" for k in ("use", "ign") for w in ("weight", "bias"))
    return ("W_A", "B_A", "W_S", "B_S", *_SMALL, *betas)


def _chunks(samples: int, n: int, n_out: int) -> list[tuple[slice, slice]]:
    """(samples, inputs) of chunks of at most `chunk_rows` inputs: runs of whole samples, or parts of one.

    Either way a chunk of the contiguous `[b, i, d]` input is itself contiguous, so it flattens to a matrix.
    """
    rows = chunk_rows(1, n_out)
    if rows < n:
        return [
            (slice(b, b + 1), slice(i, min(i + rows, n))) for b in range(samples) for i in range(0, n, rows)
        ]
    per_chunk = rows // n
    return [(slice(b, min(b + per_chunk, samples)), slice(0, n)) for b in range(0, samples, per_chunk)]


@dataclass
class _Call:
    """One call's inputs and parameters, with the batch dimensions flattened to one (b)."""

    module: nn.Module
    p: dict[str, torch.Tensor]  # the parameters by name, as passed to `LeanRouting`
    batch: tuple[int, ...]
    x: torch.Tensor  # [bid]
    mask: torch.Tensor | None  # [bij], b either 1 or all samples
    scale: torch.Tensor  # [...1], as `_vote` takes it
    flat_scale: torch.Tensor  # [b1]
    chunks: list[tuple[slice, slice]]

    def rows(self, name: str, inputs: slice) -> torch.Tensor:
        """A per-input parameter's rows for these inputs (all of it when the layer has `n_inp=-1`)."""
        return self.p[name] if self.module.n_inp < 0 else self.p[name][inputs]

    def mask_of(self, samples: slice, inputs: slice) -> torch.Tensor | None:
        if self.mask is None:
            return None
        return self.mask[:, inputs] if self.mask.shape[0] == 1 else self.mask[samples, inputs]  # [bij]

    def vote(self, A: torch.Tensor, s: torch.Tensor, small: SimpleNamespace) -> torch.Tensor:
        """`x_out [..., n_out, d_out]` from the M-step's sums `A [b, n_out, d_inp]`, `s [b, n_out]`."""
        return self.module._vote(
            A.view(*self.batch, *A.shape[1:]), s.view(*self.batch, -1), self.scale, small
        )

    def beta_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight `[2 n_out, d_inp]` and bias `[2 n_out]` computing beta_use and beta_ign in one product."""
        p = self.p
        weight = torch.cat([p["compute_beta_use.weight"], p["compute_beta_ign.weight"]])  # [2j, d]
        return weight, torch.cat([p["compute_beta_use.bias"], p["compute_beta_ign.bias"]])  # [2j]

    def add_rows(self, grad: torch.Tensor, inputs: slice, per_input: torch.Tensor) -> None:
        """Add a per-input gradient `[b, i, k]` to a parameter's `[n_inp, k]` (`[1, k]` with `n_inp=-1`)."""
        if self.module.n_inp < 0:
            grad += per_input.sum(dim=(0, 1))  # [1k]
        else:
            grad[inputs] += per_input[0] if per_input.shape[0] == 1 else per_input.sum(dim=0)  # [ik]


@dataclass
class _Kept:
    """What the forward pass keeps for the backward pass."""

    a_inp: torch.Tensor  # [bi]
    bsum: torch.Tensor  # beta_use + beta_ign: [bij] computed, or [ij] from parameters
    bign: torch.Tensor  # beta_ign: [bij] computed, or [ij] parameters
    z: list[torch.Tensor | None] = field(default_factory=list)  # [bij] of each iteration after the first
    # The small tensors with their autograd graphs: each iteration's sums (A [bjd], s [bj]) as leaves, the
    # pred_x_inp [...jd] of each iteration after the first, and the final x_out [...jh].
    sums: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    preds: list[torch.Tensor] = field(default_factory=list)
    x_out: torch.Tensor | None = None

    def betas(self, samples: slice, inputs: slice) -> tuple[torch.Tensor, torch.Tensor]:
        if self.bsum.dim() == 2:
            return self.bsum[inputs], self.bign[inputs]  # [ij], [ij]
        return self.bsum[samples, inputs], self.bign[samples, inputs]  # [bij], [bij]


def _route(call: _Call, keep: bool) -> tuple[torch.Tensor, _Kept | None]:
    """The forward pass: `x_out`, and what the backward pass needs if `keep`.

    Autograd sees only the small tensors after the M-step's sums, and only if `keep`.
    """
    m, p, x = call.module, call.p, call.x
    samples, n, d = x.shape
    j, small = m.n_out, SimpleNamespace(**{k: p[k] for k in _SMALL})
    a_inp = x.new_empty(samples, n)  # [bi]
    if m.n_inp > 0:
        kept = _Kept(a_inp, p["beta_use"] + p["beta_ign"], p["beta_ign"])  # [ij] each
    else:
        weight, bias = call.beta_weights()  # [2j, d], [2j]
        betas = x.new_empty(samples, n, 2 * j)  # [bi(2j)]
        kept = _Kept(a_inp, betas[..., :j], betas[..., j:])  # [bij] each
    x_out = P = None
    for t in range(m.n_iters):
        if t > 0:
            with torch.set_grad_enabled(keep):
                kept.preds.append(m._predict(x_out, small))  # [...jd]
            P = kept.preds[-1].detach().reshape(samples, j, d)  # [bjd]
        z_all = x.new_empty(samples, n, j) if keep and t > 0 else None  # [bij]
        A, s = x.new_zeros(samples, j, d), x.new_zeros(samples, j)  # [bjd], [bj]
        for sb, si in call.chunks:
            x_c, mask = x[sb, si], call.mask_of(sb, si)  # [bid], [bij]
            if t == 0:  # a_inp and the betas, once per input
                a_inp[sb, si] = m._a_inp(x_c, call.flat_scale[sb], call.rows("W_A", si), call.rows("B_A", si))
                if m.n_inp < 0:
                    beta_c = betas[sb, si].view(-1, 2 * j)  # [(bi)(2j)]
                    torch.addmm(bias, x_c.reshape(-1, d), weight.mT, out=beta_c)
                    beta_c[:, :j] += beta_c[:, j:]  # beta_use + beta_ign
            bsum, bign = kept.betas(sb, si)  # [bij] or [ij] each
            if t == 0:
                R = uniform_routing(m.CONST_ones_over_n_out, mask)  # [j] or [bij]
            else:
                z = torch.bmm(x_c, P[sb].mT, out=None if z_all is None else z_all[sb, si])  # [bij]
                u = torch.addcmul(call.rows("B_S", si), z, call.rows("W_S", si))  # [bij]
                R = masked_softmax(F.logsigmoid(u), mask)  # [bij]
            phi = activation(a_inp[sb, si], mask) * (R * bsum - bign)  # [bij]
            A[sb].baddbmm_(phi.mT, x_c)  # [bjd]
            s[sb] += phi.sum(dim=-2)  # [bj]
        if keep:
            kept.sums.append((A.requires_grad_(), s.requires_grad_()))
            kept.z.append(z_all)
        with torch.set_grad_enabled(keep):
            x_out = call.vote(A, s, small)  # [...jh]
    with torch.set_grad_enabled(keep):
        kept.x_out = m._norm(x_out) if m.normalize else x_out  # [...jh]
    return kept.x_out.detach(), kept if keep else None


class LeanRouting(torch.autograd.Function):
    """`x_out` of one call, with the module docstring's backward pass. Inputs: call, x_inp, parameters."""

    @staticmethod
    def forward(ctx, call: _Call, x_inp: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        x_out, ctx.kept = _route(call, keep=True)
        ctx.call = call
        return x_out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        call, need_x, need_params = ctx.call, ctx.needs_input_grad[1], ctx.needs_input_grad[2:]
        grads, gx = _backward(call, ctx.kept, g_out, dict(zip(call.p, need_params)), need_x, _keeps_graph())
        # As with autograd, parameters a single iteration never uses (no E-step) get no gradient.
        unused = {"W_G1", "W_G2", "B_G2", "W_S", "B_S"} if call.module.n_iters == 1 else set()
        param_grads = [
            grads.get(k) if need and k not in unused else None for k, need in zip(call.p, need_params)
        ]
        return None, None if gx is None else gx.view(g_out.shape[:-2] + gx.shape[-2:]), *param_grads


def _keeps_graph() -> bool:
    """Whether this backward pass was asked to keep the graph (`retain_graph`; gradcheck, for one, does).

    Asks a private function of autograd's engine; if it ever goes away, the answer is a safe yes.
    """
    keeps_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", lambda: True)
    return bool(keeps_graph())


@dataclass
class _Buffers:
    """Gradients summed over the chunks and iterations of the backward pass."""

    grads: dict[str, torch.Tensor]  # of the parameters, by name (those of `_SMALL` once autograd gave them)
    gx: torch.Tensor | None  # [bid] if the input needs its gradient
    ga: torch.Tensor | None  # [bi]: a_inp's, from the passes before the last (several iterations only)
    g_pf: torch.Tensor | None  # [bij]: sum of gphi * f over those passes (computed betas only)
    g_use: torch.Tensor | None = None  # [bij]: beta_use's over those passes, in the storage of a spent z


def _backward(
    call: _Call, kept: _Kept, g_out: torch.Tensor, need: dict[str, bool], need_x: bool, keep_graph: bool
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Gradients of every parameter (by name) and, if `need_x`, of the input (`[b, n_inp, d_inp]`).

    Unless the graph is to be kept for another backward pass, each iteration's z is dropped (or, with computed
    betas, its storage reused for their gradient) as soon as its pass is done.
    """
    if keep_graph:
        kept = replace(kept, z=[None if z is None else z.clone() for z in kept.z])
    m, x = call.module, call.x
    samples, n, d = x.shape
    several, variable = m.n_iters > 1, m.n_inp < 0
    buffers = _Buffers(
        grads={name: torch.zeros_like(p) for name, p in call.p.items() if name not in _SMALL},
        gx=torch.zeros_like(x) if need_x else None,
        ga=x.new_zeros(samples, n) if several else None,
        g_pf=x.new_zeros(samples, n, m.n_out) if several and variable else None,
    )
    wrt = [k for k in _SMALL if need[k]]

    def sums_grads(t: int, out: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gA, gs of iteration t, given the gradient g of `out`, which the forward pass computed from them."""
        inputs = [*kept.sums[t], *(call.p[k] for k in wrt)]
        gA, gs, *g_small = torch.autograd.grad(out, inputs, g, retain_graph=keep_graph, allow_unused=True)
        for name, g_param in zip(wrt, g_small):
            if g_param is not None and name in buffers.grads:
                buffers.grads[name] += g_param
            elif g_param is not None:
                buffers.grads[name] = g_param
        return gA, gs

    gA, gs = sums_grads(m.n_iters - 1, kept.x_out, g_out)
    for t in reversed(range(m.n_iters)):
        pred = None if t == 0 else kept.preds[t - 1]  # [...jd]
        P = None if pred is None else pred.detach().reshape(samples, m.n_out, d)  # [bjd]
        gP = _pass_backward(call, kept, t, gA, gs, P, buffers)
        if t > 0:
            buffers.g_use, kept.z[t] = (kept.z[t] if variable else None), None
            gA, gs = sums_grads(t - 1, pred, gP.view(pred.shape))
    return buffers.grads, buffers.gx


def _pass_backward(
    call: _Call,
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
    m, x, gx, grads = call.module, call.x, buffers.gx, buffers.grads
    gP = None if t == 0 else torch.zeros_like(gA)  # [bjd]
    for sb, si in call.chunks:
        x_c, mask, a_c = x[sb, si], call.mask_of(sb, si), kept.a_inp[sb, si]  # [bid], [bij], [bi]
        bsum, bign = kept.betas(sb, si)  # [bij] or [ij] each
        if t == 0:
            R = uniform_routing(m.CONST_ones_over_n_out, mask)  # [j] or [bij]
        else:
            z, W_S = kept.z[t][sb, si], call.rows("W_S", si)  # [bij], [ij]
            u = torch.addcmul(call.rows("B_S", si), z, W_S)  # [bij]
            R = masked_softmax(F.logsigmoid(u), mask)  # [bij]
        f = activation(a_c, mask)  # [bi1] or [bij]
        phi = f * (R * bsum - bign)  # [bij]
        gphi = torch.baddbmm(gs[sb].unsqueeze(-2), x_c, gA[sb].mT)  # [bij]
        ga = (gphi * phi).sum(dim=-1) * torch.sigmoid(-a_c)  # [bi]
        if gx is not None:
            gx[sb, si].baddbmm_(phi, gA[sb])  # [bid]
        gpf = gphi.mul_(f)  # [bij]
        g_use = gpf * R  # [bij]
        if t > 0:
            gR = gpf * bsum  # [bij]
            gu = R * (gR - (gR * R).sum(dim=-1, keepdim=True)) * torch.sigmoid(-u)  # [bij]
            call.add_rows(grads["W_S"], si, gu * z)
            call.add_rows(grads["B_S"], si, gu)
            gz = gu * W_S  # [bij]
            gP[sb].baddbmm_(gz.mT, x_c)  # [bjd]
            if gx is not None:
                gx[sb, si].baddbmm_(gz, P[sb])  # [bid]
        _betas_and_a_backward(call, kept, t, sb, si, g_use, gpf, ga, buffers)
    return gP


def _betas_and_a_backward(
    call: _Call,
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
    first (beta_use's in the storage of z, which the pass has just used for the last time), and the last pass
    (t = 0) turns the sums into gradients of the parameters and of x, with one matrix product each per chunk.
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
        buffers.g_pf[sb, si] += gpf  # [bij]
    if t > 0:
        buffers.ga[sb, si] += ga  # [bi]
        return
    if buffers.ga is not None:
        ga = ga + buffers.ga[sb, si]  # [bi]
    if m.n_inp < 0:
        if buffers.g_use is not None:
            g_use += buffers.g_use[sb, si]  # [bij]
            gpf += buffers.g_pf[sb, si]  # [bij]
        x_flat, gx_flat = x_c.reshape(-1, d), None if gx is None else gx[sb, si].view(-1, d)  # [(bi)d] each
        for which, g_beta in (("use", g_use), ("ign", g_use - gpf)):
            g_beta = g_beta.reshape(-1, j)  # [(bi)j]
            grads[f"compute_beta_{which}.weight"].addmm_(g_beta.mT, x_flat)  # [jd]
            grads[f"compute_beta_{which}.bias"] += g_beta.sum(dim=0)  # [j]
            if gx_flat is not None:
                gx_flat.addmm_(g_beta, call.p[f"compute_beta_{which}.weight"])  # [(bi)d]
    ga_scaled = ga * call.flat_scale[sb]  # [bi]
    call.add_rows(grads["B_A"].unsqueeze(-1), si, ga.unsqueeze(-1))
    if m.n_inp < 0:
        grads["W_A"][0].addmv_(x_c.reshape(-1, d).mT, ga_scaled.flatten())  # [d]
    else:
        grads["W_A"][si] += (ga_scaled.unsqueeze(-1) * x_c).sum(dim=0)  # [id], a temporary like vecdot's
    if gx is not None:
        gx[sb, si].addcmul_(ga_scaled.unsqueeze(-1), call.rows("W_A", si))  # [bid]
