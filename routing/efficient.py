"""EfficientVectorRouting: Algorithm 1 of "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022), with
the parameter-saving A, F, G, S of its Section 3 ("efficient implementation").

Shape letters, in comments throughout `routing/`: `...` (or b, flattened) the batch dimensions, i = n_inp
(inputs), j = n_out (outputs), d = d_inp (size of an input vector), h = d_out (size of an output vector).

Each iteration of Algorithm 1 runs three steps:

- E-step: R `[...ij]`, how much each input is routed to each output; uniform in the first iteration, then a
  softmax over outputs of the scores S = log sigmoid(x_inp pred_x_inp^T * W_S + B_S), where pred_x_inp
  `[...jd]` are the inputs each output predicts.
- D-step: the share of each input's activation f(a) = sigmoid(a_inp) that each output uses, D_use = f(a) R,
  and ignores, D_ign = f(a) - D_use.
- M-step: the credit phi = beta_use * D_use - beta_ign * D_ign `[...ij]` ("bang per bit"), and the outputs,
  each the phi-weighted sum of its votes: x_out = sum_i phi_ij V_ij with V = F(x_inp).

The formulas of the steps are the functions below, written once: `EfficientVectorRouting._algorithm_1` runs them
in one plain loop with autograd (the reference path, the tests' oracle), and the fast paths of `routing/fast/`
(chunks of inputs, a hand-written backward pass, scalar votes, compiled kernels) run the same functions. The
switch `creditlens.routing.set_fast_paths` chooses between them (`routing/config.py`).

Parameter and buffer names and shapes are the reference implementation's, so its checkpoints (and the paper's
published heads) load unchanged. The arithmetic is rearranged to avoid copies of the input: the length scaling
`n_inp ** -0.5` is applied to small tensors instead of to `x_inp`, the M-step's outputs come from the sums
`phi^T x_inp` instead of from votes (which are never materialised), and the D-step and the credit are fused
into `phi = f(a) * (R * (beta_use + beta_ign) - beta_ign)`; `D_use` and `D_ign` are recomputed on demand by the
result object.

Masks (True = ignore) are handled by every step. Unlike the reference, an input masked for every output gets
R = 0, hence zero credit, instead of a softmax over nothing (NaN for the whole sample).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_config, check_inputs, check_masks
from .config import fast_paths_enabled
from .output import VectorRoutingOutput
from .trace import announce, is_observed

# F.layer_norm's default, with which outputs are normalized.
LAYER_NORM_EPS = 1e-5


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


def activation_scores(
    x: torch.Tensor, scale: torch.Tensor, W_A: torch.Tensor, B_A: torch.Tensor
) -> torch.Tensor:
    """A: activation scores a_inp `[..., i]` of inputs `x [..., i, d_inp]`; `W_A [i or 1, d]`, `B_A [i or 1]`.

    The product runs in x's own precision with autocast off (f(a) scales every credit of its input), so the
    caller picks it: float32 inputs, or a reduced-precision copy it already holds (this matrix-vector product
    is bound by reading x, and such a copy is half the bytes).
    """
    with torch.autocast(x.device.type, enabled=False):
        W_A = W_A.to(x.dtype)
        if W_A.shape[0] > 1:  # one row per input
            return torch.linalg.vecdot(x, W_A) * scale + B_A  # [...i]
        return (x @ W_A[0]) * scale + B_A  # [...i]


def activation(a_inp: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """f(a) = sigmoid(a), zero on masked pairs: `[..., n_inp, 1]`, or `[..., n_inp, n_out]` with a mask."""
    f_a_inp = a_inp.sigmoid().unsqueeze(-1)  # [...i1]
    return f_a_inp if mask is None else f_a_inp.masked_fill(mask, 0.0)  # [...i1] or [...ij]


def uniform_routing(ones_over_n_out: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """E-step of the first iteration: each input split evenly over the outputs it may reach.

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


def e_step(
    z: torch.Tensor, W_S: torch.Tensor, B_S: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """E-step after the first iteration, from the dot products `z = x_inp pred_x_inp^T [..., i, j]`.

    Returns R = softmax over outputs of S (skipping masked pairs), S = log sigmoid(u) and u = z * W_S + B_S,
    `[..., i, j]` each (`W_S`, `B_S`: `[i or 1, j]`). The hand-written backward passes need u.
    """
    u = torch.addcmul(B_S, z, W_S)  # [...ij]
    S = F.logsigmoid(u)  # [...ij]
    return masked_softmax(S, mask), S, u


def credit(
    f_a_inp: torch.Tensor, R: torch.Tensor, bsum: torch.Tensor, beta_ign: torch.Tensor
) -> torch.Tensor:
    """D-step and the M-step's credit, fused: `phi = beta_use * D_use - beta_ign * D_ign`, with D_use = f(a) R
    and D_ign = f(a) - D_use, is `f(a) * (R * bsum - beta_ign)` with `bsum = beta_use + beta_ign`.

    Args:
        f_a_inp: activations f(a) `[..., i, 1]` (or `[..., i, j]` when masked).
        R: routing probabilities `[..., i, j]` (or the first iteration's `[j]`).
        bsum, beta_ign: `beta_use + beta_ign` and `beta_ign`, net benefit and cost per unit of data,
            `[..., i, j]` (broadcastable).
    """
    return f_a_inp * (R * bsum - beta_ign)  # [...ij]


def vote(
    A: torch.Tensor,
    s: torch.Tensor,
    scale: torch.Tensor,
    W_F1: torch.Tensor,
    W_F2: torch.Tensor,
    B_F2: torch.Tensor,
) -> torch.Tensor:
    """M-step's outputs `x_out [..., j, h]` (before normalization) from the sums over inputs `A = phi^T x_inp
    [..., j, d]` and `s = sum_i phi [..., j]`.

    With the votes `V_ij = (scale * x_inp_i * W_F1_j) W_F2 + B_F2_j` (F of Section 3), `sum_i phi_ij V_ij` is
    `((A_j * scale) * W_F1_j) W_F2 + s_j B_F2_j`: the length scaling `scale [..., 1]` is applied to the small
    sums instead of to `x_inp`.
    """
    return ((A * scale.unsqueeze(-1)) * W_F1) @ W_F2 + s.unsqueeze(-1) * B_F2  # [...jh]


def normalize(x_out: torch.Tensor) -> torch.Tensor:
    """Output vectors `[..., j, h]` normalized to mean 0 and variance 1 (no affine); unchanged if h == 1."""
    return F.layer_norm(x_out, x_out.shape[-1:], eps=LAYER_NORM_EPS) if x_out.shape[-1] > 1 else x_out


def predict(x_out: torch.Tensor, W_G1: torch.Tensor, W_G2: torch.Tensor, B_G2: torch.Tensor) -> torch.Tensor:
    """G: the inputs each output predicts, `pred_x_inp [..., j, d]`, from outputs `x_out [..., j, h]`."""
    return (normalize(x_out) @ W_G1) * W_G2 + B_G2  # [...jd]


class LastIteration(NamedTuple):
    """What the routing loop leaves behind: the outputs and the per-input results of the last iteration."""

    x_out: torch.Tensor  # [...jh], before normalization
    phi: torch.Tensor  # [...ij]
    R: torch.Tensor  # [...ij]
    pred_x_inp: torch.Tensor | None  # [...jd], None after a single iteration
    S: torch.Tensor | None  # [...ij], None after a single iteration


class EfficientVectorRouting(nn.Module):
    """Route `n_inp` vectors of size `d_inp` to `n_out` vectors of size `d_out`, returning the credit phi.

    Args:
        n_inp: number of input vectors, or -1 for a variable number (betas are then computed from each input).
        n_out: number of output vectors (>= 2).
        d_inp: size of input vectors.
        d_out: size of output vectors.
        n_iters: number of routing iterations (>= 1). Default: 2.
        normalize: if True and `d_out > 1`, normalize each output vector to mean 0 and variance 1.
        memory_efficient: if True (default), never materialise the votes `[..., n_inp, n_out, d_out]`; if False,
            compute them and return them as `V` (useful to inspect per-input votes of small layers).
        return_dict: if True, calling the layer returns the reference's dict of tensors instead of `x_out`.
        device, dtype: where and in what precision to create the parameters.

    Calling the layer returns `x_out [..., n_out, d_out]` (as the reference does); `route()` returns a
    `VectorRoutingOutput` with `phi [..., n_inp, n_out]` and every intermediate.

    Reduced precision is opt-in: inside `torch.autocast("cpu", dtype=torch.bfloat16)` (or another device's
    autocast) both run their matrix products in the lower precision and keep the parameters' precision
    (float32) for everything else, including the softmax over outputs, phi and the sums over inputs; outputs
    and credit stay close to float32's (see `routing/fast/_precision.py`). Outside autocast nothing changes.

    Example:
        >>> m = EfficientVectorRouting(n_inp=-1, n_out=10, d_inp=64, d_out=32)
        >>> m.route(torch.randn(500, 64)).phi.shape
        torch.Size([500, 10])
    """

    def __init__(
        self,
        n_inp: int,
        n_out: int,
        d_inp: int,
        d_out: int,
        n_iters: int = 2,
        normalize: bool = True,
        memory_efficient: bool = True,
        return_dict: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_config(n_inp, n_out, n_iters)
        self.n_inp, self.n_out, self.d_inp, self.d_out, self.n_iters = n_inp, n_out, d_inp, d_out, n_iters
        self.normalize, self.memory_efficient, self.return_dict = normalize, memory_efficient, return_dict
        kw = {"device": device, "dtype": dtype}
        one_or_n_inp = max(1, n_inp)
        self.register_buffer("CONST_ones_over_n_out", torch.ones(n_out, **kw) / n_out)
        self.W_A = nn.Parameter(torch.empty(one_or_n_inp, d_inp, **kw).normal_(std=2.0 * d_inp**-0.5))
        self.B_A = nn.Parameter(torch.zeros(one_or_n_inp, **kw))
        self.W_F1 = nn.Parameter(torch.empty(n_out, d_inp, **kw).normal_())
        self.W_F2 = nn.Parameter(torch.empty(d_inp, d_out, **kw).normal_(std=2.0 * d_inp**-0.5))
        self.B_F2 = nn.Parameter(torch.zeros(n_out, d_out, **kw))
        self.W_G1 = nn.Parameter(torch.empty(d_out, d_inp, **kw).normal_(std=d_out**-0.5))
        self.W_G2 = nn.Parameter(torch.empty(n_out, d_inp, **kw).normal_())
        self.B_G2 = nn.Parameter(torch.zeros(n_out, d_inp, **kw))
        self.W_S = nn.Parameter(torch.empty(one_or_n_inp, n_out, **kw).normal_(std=d_inp**-0.5))
        self.B_S = nn.Parameter(torch.zeros(one_or_n_inp, n_out, **kw))
        add_betas(self, n_inp, n_out, d_inp, **kw)

    def extra_repr(self) -> str:
        names = "n_inp n_out d_inp d_out n_iters normalize memory_efficient return_dict".split()
        return ", ".join(f"{s}={getattr(self, s)}" for s in names)

    def forward(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor | None]:
        """Route `x_inp [..., n_inp, d_inp]`; return `x_out [..., n_out, d_out]` (or a dict, see `return_dict`).

        `mask` and `pad_mask` are as in `route()`. With the fast paths on (the default), unless the dict is
        asked for or phi is being recorded, the per-input credit is not assembled and gradients come from a
        hand-written backward pass that keeps little more than `x_inp` (see `routing/fast/`).
        """
        if self.return_dict or is_observed() or not self.memory_efficient or not fast_paths_enabled():
            out = self.route(x_inp, mask=mask, pad_mask=pad_mask)
            return out.to_dict() if self.return_dict else out.x_out
        # Imported here: the fast paths are built on this module's formulas.
        from .fast import lean_forward

        pair_mask, scale = self._prepare(x_inp, mask, pad_mask)
        return lean_forward(self, x_inp, pair_mask, scale)

    def route(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None
    ) -> VectorRoutingOutput:
        """Route and return the outputs with the credit that produced them.

        Args:
            x_inp: input vectors `[..., n_inp, d_inp]`.
            mask: optional bool `[n_inp, n_out]` or `[..., n_inp, n_out]`, True where an output ignores an input.
            pad_mask: optional bool `[..., n_inp]`, True on padding. Padding gets zero credit and does not count
                in the length scaling, so a padded batch routes each sample as if it were alone.
        """
        pair_mask, scale = self._prepare(x_inp, mask, pad_mask)
        a_inp = activation_scores(x_inp, scale, self.W_A, self.B_A)  # [...i]
        f_a_inp = activation(a_inp, pair_mask)  # [...i1] or [...ij]
        V = None if self.memory_efficient else self._votes(x_inp, scale)  # [...ijh]
        if V is None and fast_paths_enabled():
            from .fast import route_in_chunks  # here: see `forward`

            last = route_in_chunks(self, x_inp, pair_mask, scale, f_a_inp)
        else:
            last = self._algorithm_1(x_inp, pair_mask, scale, f_a_inp, V)
        x_out, std_out = last.x_out, None
        if self.normalize and self.d_out > 1:
            std_out = (x_out.var(-1, unbiased=False, keepdim=True) + LAYER_NORM_EPS).sqrt()  # [...j1]
            x_out = normalize(x_out)  # [...jh]
        out = VectorRoutingOutput(
            x_out=x_out, phi=last.phi, R=last.R, a_inp=a_inp, f_a_inp=f_a_inp, pred_x_inp=last.pred_x_inp,
            S=last.S, V=V, std_out=std_out,
        )  # fmt: skip
        announce(self, out)
        return out

    def _algorithm_1(
        self,
        x_inp: torch.Tensor,
        pair_mask: torch.Tensor | None,
        scale: torch.Tensor,
        f_a_inp: torch.Tensor,
        V: torch.Tensor | None,
    ) -> LastIteration:
        """Algorithm 1's loop over all inputs at once, with autograd: the reference path.

        Args:
            x_inp: input vectors `[..., i, d]`.
            pair_mask: bool `[..., i, j]` (broadcastable), True = pair ignored; or None.
            scale: the length scaling `n ** -0.5` per sample, `[..., 1]` (or `[1]`).
            f_a_inp: activations f(a) `[..., i, 1]` (or `[..., i, j]` when masked).
            V: the votes `[..., i, j, h]`, or None to compute the outputs from the sums `phi^T x_inp`.
        """
        beta_use, beta_ign = self._betas(x_inp)  # [ij] or [...ij] each
        bsum = beta_use + beta_ign  # [ij] or [...ij]
        pred_x_inp = S = x_out = None
        for t in range(self.n_iters):
            # E-step: route each input to the outputs that predict it best
            if t == 0:
                R = uniform_routing(self.CONST_ones_over_n_out, pair_mask)  # [j] or [...ij]
            else:
                pred_x_inp = predict(x_out, self.W_G1, self.W_G2, self.B_G2)  # [...jd]
                R, S, _ = e_step(x_inp @ pred_x_inp.mT, self.W_S, self.B_S, pair_mask)  # [...ij] each
            # D-step and the M-step's credit: phi = beta_use * D_use - beta_ign * D_ign
            phi = credit(f_a_inp, R, bsum, beta_ign)  # [...ij]
            # M-step: each output is the credit-weighted sum of its votes
            if V is None:
                # Under autocast the product comes in its lower precision; the outputs are in phi's.
                x_out = vote(
                    (phi.mT @ x_inp).to(phi.dtype), phi.sum(dim=-2), scale, self.W_F1, self.W_F2, self.B_F2
                )  # [...jh]
            else:
                x_out = (phi.unsqueeze(-1) * V).sum(dim=-3)  # [...jh]
        return LastIteration(x_out, phi, R.expand(phi.shape), pred_x_inp, S)

    def _prepare(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None, pad_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Check the inputs; return the pair mask `[..., n_inp, n_out]` (or None) and the scale `[...1]`."""
        check_inputs(x_inp, self.n_inp, self.d_inp)
        pair_mask = check_masks(mask, pad_mask, tuple(x_inp.shape[:-2]), x_inp.shape[-2], self.n_out)
        return pair_mask, self._length_scale(x_inp, pad_mask)

    def _length_scale(self, x_inp: torch.Tensor, pad_mask: torch.Tensor | None) -> torch.Tensor:
        """`n ** -0.5` per sample, `[..., 1]`, counting only real (non-padding) inputs."""
        if pad_mask is None:
            return x_inp.new_full((1,), x_inp.shape[-2] ** -0.5)  # [1]
        n_real = (~pad_mask).sum(dim=-1, keepdim=True).to(x_inp.dtype)  # [...1]
        return n_real.rsqrt()  # [...1]

    def _betas(self, x_inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """beta_use and beta_ign, `[n_inp, n_out]` parameters or `[..., n_inp, n_out]` computed from inputs."""
        if self.n_inp > 0:
            return self.beta_use, self.beta_ign  # [ij], [ij]
        weight = torch.cat([self.compute_beta_use.weight, self.compute_beta_ign.weight])  # [2j, d]
        bias = torch.cat([self.compute_beta_use.bias, self.compute_beta_ign.bias])  # [2j]
        beta_use, beta_ign = F.linear(x_inp, weight, bias).chunk(2, dim=-1)  # [...ij] each
        return beta_use, beta_ign

    def votes(self, x_inp: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The vote of each input for each output, `V [..., n_inp, n_out, d_out]`.

        Before normalization each output is the credit-weighted sum of its votes: `sum_i phi_ij * V_ijh`.
        Costs `n_out * d_inp * d_out` extra memory besides the result.
        """
        check_inputs(x_inp, self.n_inp, self.d_inp)
        return self._votes(x_inp, self._length_scale(x_inp, pad_mask))

    def _votes(self, x_inp: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        W_F = self.W_F1.unsqueeze(-1) * self.W_F2  # [jdh]
        V = (x_inp * scale.unsqueeze(-1)).unsqueeze(-3) @ W_F  # [...jih]
        return V.transpose(-3, -2) + self.B_F2  # [...ijh]
