"""EfficientVectorRouting: Algorithm 1 of "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022), with
the parameter-saving A, F, G, S of its Section 3 ("efficient implementation").

Parameter and buffer names and shapes are the reference implementation's, so its checkpoints (and the paper's
published heads) load unchanged. The arithmetic is rearranged to avoid copies of the input: the length scaling
`n_inp ** -0.5` is applied to small tensors instead of to `x_inp`, and both betas of the variable-length variant
come from one matrix product.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_config, check_inputs, check_masks
from ._em import (
    EMState,
    RowCredit,
    activation,
    add_betas,
    chunk_rows,
    credit,
    masked_softmax,
    run_vector_routing,
    split_rows,
    uniform_routing,
)
from ._lean import lean_forward
from ._precision import autocast_off, low_precision
from ._small import LAYER_NORM_EPS
from .output import VectorRoutingOutput
from .trace import announce, is_observed


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
    and credit stay close to float32's (see `_precision.py`). Outside autocast nothing changes.

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

        `mask` and `pad_mask` are as in `route()`. Unless the dict is asked for or phi is being recorded, the
        per-input credit is not assembled, and gradients come from a hand-written backward pass that keeps
        little more than `x_inp` (see `_lean.py`). Layers whose per-input votes are smaller than the
        per-output sums (`d_out == 1` over few inputs, like a classifier's last routing) route by their votes
        (see `_scalar.py`).
        """
        if self.return_dict or is_observed() or not self.memory_efficient:
            out = self.route(x_inp, mask=mask, pad_mask=pad_mask)
            return out.to_dict() if self.return_dict else out.x_out
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
        a_inp = self._a_inp(x_inp, scale, self.W_A, self.B_A)  # [...i]
        f_a_inp = activation(a_inp, pair_mask)  # [...i1] or [...ij]
        V = None if self.memory_efficient else self._votes(x_inp, scale)  # [...ijh]
        state = self._run(x_inp, pair_mask, scale, f_a_inp, V)
        std_out = None
        if self.normalize and self.d_out > 1:
            std_out = (state.x_out.var(-1, unbiased=False, keepdim=True) + LAYER_NORM_EPS).sqrt()  # [...j1]
            state = state._replace(x_out=self._norm(state.x_out))  # [...jh]
        out = VectorRoutingOutput(
            x_out=state.x_out, phi=state.phi, R=state.R, a_inp=a_inp, f_a_inp=f_a_inp,
            pred_x_inp=state.pred_x_inp, S=state.S, V=V, std_out=std_out,
        )  # fmt: skip
        announce(self, out)
        return out

    def _prepare(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None, pad_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Check the inputs; return the pair mask `[..., n_inp, n_out]` (or None) and the scale `[...1]`."""
        check_inputs(x_inp, self.n_inp, self.d_inp)
        pair_mask = check_masks(mask, pad_mask, tuple(x_inp.shape[:-2]), x_inp.shape[-2], self.n_out)
        return pair_mask, self._length_scale(x_inp, pad_mask)

    def _run(
        self,
        x_inp: torch.Tensor,
        pair_mask: torch.Tensor | None,
        scale: torch.Tensor,
        f_a_inp: torch.Tensor,
        V: torch.Tensor | None,
    ) -> EMState:
        """The E-D-M loop with autograd, keeping phi, R and S of the last iteration for all inputs.

        Three ways to the same outputs: from the votes V (`memory_efficient=False`); from scalar votes, when
        they are the smaller tensors (see `_scalar_votes`); or from the M-step's sums `phi^T x_inp` over
        chunks of inputs. Scalar votes need no pred_x_inp, so they compute it for the result only.
        """
        batch, n = tuple(x_inp.shape[:-2]), x_inp.shape[-2]
        scalar = V is None and self._votes_are_smaller(x_inp)
        # float32's chunk size even under autocast: on the paper head's credit (`benchmarks/bench_routing.py`
        # --bf16) chunks 4x larger took 0.516 s against 0.480-0.483 s (medians of 12 alternating calls, in two runs).
        rows = n if V is not None or scalar else chunk_rows(math.prod(batch), self.n_out)
        # Under autocast, x_inp is cast for its matrix products once, not by each of them.
        low = low_precision(x_inp.device, x_inp.dtype)
        x_mm = x_inp if low is None else x_inp.to(low)  # [...id]
        x_rows = split_rows(x_mm, rows, n)  # [...id] each
        f_a_rows = split_rows(f_a_inp, rows, n)  # [...i1] or [...ij] each
        mask_rows = split_rows(pair_mask, rows, n)  # [...ij] each
        W_S_rows, B_S_rows = split_rows(self.W_S, rows, n), split_rows(self.B_S, rows, n)  # [ij] each
        # Betas are computed once for all inputs and reused by every iteration.
        beta_use_rows, beta_ign_rows = (split_rows(beta, rows, n) for beta in self._betas(x_mm))
        if scalar:
            V_1, U, Q = self._scalar_votes(x_inp, scale)  # [...ij] each

        def row_credit(k: int, pred: torch.Tensor | None) -> RowCredit:
            beta_use, beta_ign = beta_use_rows[k], beta_ign_rows[k]  # [...ij] each
            if pred is None:
                R = uniform_routing(self.CONST_ones_over_n_out, mask_rows[k])  # [j] or [...ij]
                return credit(f_a_rows[k], beta_use, beta_ign, R)
            # pred: the previous outputs [...j1] with scalar votes, else pred_x_inp [...jd]
            z = U * pred.mT + Q if scalar else x_rows[k] @ pred.transpose(-2, -1)  # [...ij]
            S = F.logsigmoid(torch.addcmul(B_S_rows[k], z, W_S_rows[k]))  # [...ij]
            return credit(f_a_rows[k], beta_use, beta_ign, masked_softmax(S, mask_rows[k]), S)

        def partial_vote(k: int, phi: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if V is not None:
                return ((phi.unsqueeze(-1) * V).sum(dim=-3),)  # [...jh]
            if scalar:
                return ((phi * V_1).sum(dim=-2).unsqueeze(-1),)  # [...j1]
            # Under autocast the product comes in its lower precision; the sum over chunks is phi's.
            return (phi.transpose(-2, -1) @ x_rows[k]).to(phi.dtype), phi.sum(dim=-2)  # [...jd], [...j]

        def finish_vote(sums: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return sums[0] if len(sums) == 1 else self._vote(*sums, scale)  # [...jh]

        predict = (lambda x_out: x_out) if scalar else self._predict
        state = run_vector_routing(len(x_rows), self.n_iters, row_credit, partial_vote, finish_vote, predict)
        if scalar and state.pred_x_inp is not None:
            state = state._replace(pred_x_inp=self._predict(state.pred_x_inp))  # [...jd], for the result only
        return state

    def _votes_are_smaller(self, x_inp: torch.Tensor) -> bool:
        """Whether scalar votes and scores (`3 n_inp` numbers per output) are smaller than pred_x_inp's."""
        return self.d_out == 1 and 3 * x_inp.shape[-2] <= self.d_inp

    def _scalar_votes(self, x_inp: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """For `d_out == 1`: the votes `V [..., n_inp, n_out]`, and U, Q `[..., n_inp, n_out]` with which the
        E-step's scores are `z = U * x_out + Q` (None after a single iteration).

        With one output feature, `x_out = sum_i phi_i V_i` with `V = scale * (x_inp * W_F2^T) W_F1^T + B_F2`,
        and `x_inp pred_x_inp^T = U * x_out + Q` with `U = (x_inp * W_G1) W_G2^T`, `Q = x_inp B_G2^T`: three
        matrix products, and no `[..., n_out, d_inp]` tensor is needed. Scaling x_inp by the one column of
        W_F2 (or row of W_G1) first, rather than multiplying the weights, leaves autograd `[..., n_inp, d_inp]`
        tensors to keep, not `[n_out, d_inp]` ones, and gives every parameter a gradient of its own storage.
        """
        V = ((x_inp * self.W_F2.mT) @ self.W_F1.mT) * scale.unsqueeze(-1) + self.B_F2.mT  # [...ij]
        if self.n_iters == 1:  # no E-step: U, Q and G's parameters are left out, so those get no gradient
            return V, None, None
        U = (x_inp * self.W_G1) @ self.W_G2.mT  # [...ij]
        return V, U, x_inp @ self.B_G2.mT  # [...ij] each

    def _a_inp(
        self, x: torch.Tensor, scale: torch.Tensor, W_A: torch.Tensor, B_A: torch.Tensor
    ) -> torch.Tensor:
        """Activation scores `[..., i]` of inputs `x [..., i, d_inp]` (W_A, B_A: rows of those inputs).

        The product runs in x's own precision with autocast off (f(a) scales every credit of its input), so
        the caller picks it: float32 inputs, or a reduced-precision copy it already holds (this matrix-vector
        product is bound by reading x, and such a copy is half the bytes).
        """
        with autocast_off(x.device):
            W_A = W_A.to(x.dtype)
            if self.n_inp > 0:
                return torch.linalg.vecdot(x, W_A) * scale + B_A  # [...i]
            return (x @ W_A[0]) * scale + B_A  # [...i]

    def _vote(self, A: torch.Tensor, s: torch.Tensor, scale: torch.Tensor, p: Any = None) -> torch.Tensor:
        """The M-step's outputs `[..., n_out, d_out]` from `A = phi^T x_inp [..., n_out, d_inp]` and
        `s = sum_i phi`.

        The length scaling `scale [..., 1]` is applied here, to the small sums, instead of to `x_inp`. `p`
        holds `W_F1, W_F2, B_F2` as attributes (default: this layer's).
        """
        p = self if p is None else p
        return ((A * scale.unsqueeze(-1)) * p.W_F1) @ p.W_F2 + s.unsqueeze(-1) * p.B_F2  # [...jh]

    def _predict(self, x_out: torch.Tensor, p: Any = None) -> torch.Tensor:
        """Inputs predicted by each output, `pred_x_inp [..., n_out, d_inp]` (`p`: as in `_vote`)."""
        p = self if p is None else p
        return (self._norm(x_out) @ p.W_G1) * p.W_G2 + p.B_G2  # [...jd]

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

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) if self.d_out > 1 else x
