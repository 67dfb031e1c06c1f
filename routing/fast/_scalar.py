"""EfficientVectorRouting's plain call for layers with one output feature over few inputs, such as a
classifier's last routing (Heinsen 2022, Algorithm 1 with the efficient A, F, G, S of Section 3), with a
hand-written backward pass.

With `d_out = 1` the votes are numbers, `V = scale * (x_inp * W_F2^T) W_F1^T + B_F2^T`, and the E-step's
scores are `z = U * x_out + Q` with `U = (x_inp * W_G1) W_G2^T` and `Q = x_inp B_G2^T`, all `[..., n_inp,
n_out]` (see `_route.scalar_votes`). With f = sigmoid(a) (zero on masked pairs) and
bsum = beta_use + beta_ign, iteration t computes

    R_0 uniform,   R_t = softmax(logsigmoid(u_t)),   u_t = (U * x_out_{t-1} + Q) * W_S + B_S   (t > 0),
    phi_t = f * (R_t * bsum - beta_ign),   x_out_t = sum_i phi_t * V.

The forward pass keeps V, U and Q (in one block), a_inp, computed betas and each iteration's x_out
`[..., n_out]`. The backward pass recomputes each iteration's R and phi, from the last iteration to the first,
given the gradient g of x_out_t:

    gphi = g * V        gV += g * phi_t        ga += (1 - sigmoid(a)) * sum_j gphi * phi_t
    gbeta_use += gphi * f * R_t                gbeta_ign += gphi * f * (R_t - 1)

and for t > 0, with gR = gphi * f * bsum and gu = R_t * (gR - sum_j gR * R_t) * sigmoid(-u_t):

    gW_S += gu * z_t    gB_S += gu    gU += gu * W_S * x_out_{t-1}    gQ += gu * W_S
    the gradient of x_out_{t-1}: sum_i gu * W_S * U

It then turns gV, gU, gQ, ga and the betas' gradients into those of the parameters and of x_inp, with one or
two matrix products each and no `[n_out, d_inp]` temporary. Autograd kept a dozen `[..., n_inp, n_out]`
tensors for this; here the kept ones are three, and the backward pass needs a few more at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..efficient import activation, activation_scores, credit, e_step, uniform_routing
from ._call import Call
from ._precision import add_matmul_, addmm, matmul, matmul_into

_ALL = slice(None)


@dataclass
class _ScalarKept:
    """What the forward pass keeps for the backward pass."""

    VUQ: torch.Tensor  # [kbij]: V, U, Q (k = 3), or V alone (k = 1) after a single iteration
    a_inp: torch.Tensor  # [bi]
    bsum: torch.Tensor  # beta_use + beta_ign: [bij] computed, or [ij] from parameters
    bign: torch.Tensor  # beta_ign: [bij] computed, or [ij] parameters
    outs: list[torch.Tensor]  # x_out of each iteration, [bj]


def _votes(call: Call) -> torch.Tensor:
    """V, and U and Q after several iterations, as one block `[k, b, n_inp, n_out]` (k = 3 or 1), computed as
    `_route.scalar_votes` does."""
    p, x, j, low = call.p, call.x, call.module.n_out, call.low
    several = call.module.n_iters > 1
    VUQ = x.new_empty(3 if several else 1, *x.shape[:-1], j)  # [kbij]
    matmul_into(VUQ[0], x * p["W_F2"].mT, p["W_F1"].mT, low)
    VUQ[0].mul_(call.flat_scale.unsqueeze(-1)).add_(p["B_F2"].mT)  # V
    if several:
        matmul_into(VUQ[1], x * p["W_G1"], p["W_G2"].mT, low)  # U
        matmul_into(VUQ[2], call.x_low, p["B_G2"].mT, low)  # Q
    return VUQ


def _routing(
    call: Call, U: torch.Tensor, Q: torch.Tensor, x_prev: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """R, and the scores z and u it came from, `[b, n_inp, n_out]` each, given the previous outputs `[b, n_out]`."""
    z = torch.addcmul(Q, U, x_prev.unsqueeze(-2))  # [bij]
    R, _, u = e_step(z, call.rows("W_S", _ALL), call.rows("B_S", _ALL), call.mask)  # [bij] each
    return R, z, u


def scalar_route(call: Call, keep: bool) -> tuple[torch.Tensor, _ScalarKept | None]:
    """The forward pass, without autograd: `x_out [..., n_out, 1]`, and what the backward pass needs if `keep`."""
    m, p, x = call.module, call.p, call.x
    j = m.n_out
    VUQ = _votes(call)  # [kbij]
    V, *UQ = VUQ  # [bij] each
    a_inp = activation_scores(x, call.flat_scale, p["W_A"], p["B_A"])  # [bi]
    if m.n_inp > 0:
        bsum, bign = p["beta_use"] + p["beta_ign"], p["beta_ign"]  # [ij] each
    else:
        weight, bias = call.beta_weights()  # [2j, d], [2j]
        betas = addmm(bias, call.x_low.flatten(0, 1), weight.mT, call.low)  # [(bi)(2j)]
        betas = betas.view(*x.shape[:-1], 2 * j)  # [bi(2j)]
        bsum, bign = betas[..., :j].add_(betas[..., j:]), betas[..., j:]  # [bij] each
    f_a_inp = activation(a_inp, call.mask)  # [bi1] or [bij]
    outs = []
    for t in range(m.n_iters):
        if t == 0:
            R = uniform_routing(m.CONST_ones_over_n_out, call.mask)  # [j] or [bij]
        else:
            R = _routing(call, *UQ, outs[-1])[0]  # [bij]
        phi = credit(f_a_inp, R, bsum, bign)  # [bij]
        outs.append((phi * V).sum(dim=-2))  # [bj]
    x_out = outs[-1].view(*call.batch, j, 1)  # [...j1]
    return x_out, _ScalarKept(VUQ, a_inp, bsum, bign, outs) if keep else None


def scalar_backward(
    call: Call, kept: _ScalarKept, g_out: torch.Tensor, need: set[str], need_x: bool
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Gradients of the parameters in `need` (by name) and, if `need_x`, of the input (`[b, n_inp, d_inp]`)."""
    m, p, x = call.module, call.p, call.x
    j, variable = m.n_out, m.n_inp < 0
    grads = {name: torch.zeros_like(param) for name, param in p.items() if name in need}
    V, *UQ = kept.VUQ  # [bij] each
    gVUQ = torch.zeros_like(kept.VUQ)  # [kbij]
    gV, *gUQ = gVUQ  # [bij] each
    g_betas = x.new_zeros(*V.shape[:-1], 2 * j) if variable else None  # [bi(2j)]: beta_use's, beta_ign's
    f = activation(kept.a_inp, call.mask)  # [bi1] or [bij]
    ga = torch.zeros_like(kept.a_inp)  # [bi]
    g = g_out.reshape(kept.outs[-1].shape)  # [bj]
    for t in reversed(range(m.n_iters)):
        if t == 0:
            R = uniform_routing(m.CONST_ones_over_n_out, call.mask)  # [j] or [bij]
        else:
            R, z, u = _routing(call, *UQ, kept.outs[t - 1])  # [bij] each
        # In place wherever a tensor is used for the last time: the pass allocates a few [b, n_inp, n_out]
        # tensors per iteration, not a dozen.
        phi = credit(f, R, kept.bsum, kept.bign)  # [bij]
        gV.addcmul_(g.unsqueeze(-2), phi)
        gphi = g.unsqueeze(-2) * V  # [bij]
        ga += torch.linalg.vecdot(gphi, phi)  # [bi]
        gpf = gphi.mul_(f)  # [bij]
        g_use = gpf * R  # [bij]
        if variable:
            g_betas[..., :j] += g_use
            g_betas[..., j:] += g_use.sub_(gpf)
        else:
            _add_rows(call, grads, "beta_use", g_use)
            _add_rows(call, grads, "beta_ign", g_use.sub_(gpf))
        del g_use
        if t > 0:
            gR = gpf.mul_(kept.bsum)  # [bij]
            gu = gR.sub_(torch.linalg.vecdot(gR, R).unsqueeze(-1)).mul_(R).mul_(u.neg_().sigmoid_())  # [bij]
            _add_rows(call, grads, "B_S", gu)
            _add_rows(call, grads, "W_S", z.mul_(gu))
            gz = gu.mul_(call.rows("W_S", _ALL))  # [bij]
            gUQ[0].addcmul_(gz, kept.outs[t - 1].unsqueeze(-2))
            gUQ[1] += gz
            g = torch.linalg.vecdot(gz.mT, UQ[0].mT)  # [bj]
    ga *= torch.sigmoid(-kept.a_inp)
    gx = _inputs_backward(call, gVUQ, ga, g_betas, grads, need_x)
    return grads, gx


def _add_rows(call: Call, grads: dict[str, torch.Tensor], name: str, per_input: torch.Tensor) -> None:
    """Add a per-input gradient `[b, n_inp, k]` to parameter `name`'s, if it needs one."""
    if name in grads:
        call.add_rows(grads[name], _ALL, per_input)


def _inputs_backward(
    call: Call,
    gVUQ: torch.Tensor,
    ga: torch.Tensor,
    g_betas: torch.Tensor | None,
    grads: dict[str, torch.Tensor],
    need_x: bool,
) -> torch.Tensor | None:
    """Pass the gradients of V, U, Q `[k, b, n_inp, n_out]`, a_inp `[b, n_inp]` and computed betas `[b, n_inp,
    2 n_out]` on to the parameters (those in `grads`) and, if `need_x`, to x_inp (returned, else None)."""
    p, x, low = call.p, call.x, call.low
    x_flat, x_low = x.flatten(0, 1), call.x_low.flatten(0, 1)  # [(bi)d] each
    gx = torch.zeros_like(x) if need_x else None  # [bid]
    gx_flat = None if gx is None else gx.view_as(x_flat)  # [(bi)d]
    gV, *gUQ = gVUQ  # [bij] each
    if "B_F2" in grads:
        grads["B_F2"] += gV.sum(dim=(0, 1)).unsqueeze(-1)  # [j1]
    gV.mul_(call.flat_scale.unsqueeze(-1))
    # V and U: a product of x_inp scaled by a row of weights, (x_inp * w) W^T, with (w, W) = (W_F2^T, W_F1) or
    # (W_G1, W_G2). Q: x_inp B_G2^T.
    for k, (w, W) in enumerate([("W_F2", "W_F1")] + ([("W_G1", "W_G2")] if gUQ else [])):
        row = p[w].view(1, -1)  # [1d]
        if W in grads:
            add_matmul_(grads[W], gVUQ[k].flatten(0, 1).mT, x_flat * row, low)  # [jd]
        if w in grads or gx is not None:
            g_scaled_x = matmul(gVUQ[k], p[W], low)  # [bid]
            if w in grads:
                grads[w] += (g_scaled_x * x).sum(dim=(0, 1)).view_as(p[w])  # [d1] or [1d]
            if gx is not None:
                gx.addcmul_(g_scaled_x, row)
    if gUQ:
        if "B_G2" in grads:
            add_matmul_(grads["B_G2"], gUQ[1].flatten(0, 1).mT, x_low, low)  # [jd]
        if gx_flat is not None:
            add_matmul_(gx_flat, gUQ[1].flatten(0, 1), p["B_G2"], low)  # [(bi)d]
    ga_scaled = ga * call.flat_scale  # [bi]
    if "B_A" in grads:
        call.add_rows(grads["B_A"].unsqueeze(-1), _ALL, ga.unsqueeze(-1))
    _add_rows(call, grads, "W_A", ga_scaled.unsqueeze(-1) * x)
    if gx is not None:
        gx.addcmul_(ga_scaled.unsqueeze(-1), p["W_A"])  # [bid]
    if g_betas is not None:
        call.betas_backward(g_betas.flatten(0, 1), x_low, grads, gx_flat)
    return gx
