"""DefinableVectorRouting: Algorithm 1 of "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022) with
A, F, G and S given as arbitrary modules (Section 2 of the paper).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_config, check_inputs, check_masks
from .efficient import activation, add_betas, credit, masked_softmax, uniform_routing
from .output import VectorRoutingOutput
from .trace import announce


class DefinableVectorRouting(nn.Module):
    """Route input vectors to output vectors with user-defined networks A, F, G and S, returning the credit phi.

    Args:
        A: input activation scores, `[..., n_inp, d_inp] -> [..., n_inp, 1]`.
        F: votes, `[..., n_inp, d_inp] -> [..., n_inp, n_out, d_out]`.
        G: predicted inputs, `[..., n_out, d_out] -> [..., n_out, d_inp]`.
        S: similarity of actual and predicted inputs, `([..., n_inp, d_inp], [..., n_out, d_inp]) ->
            [..., n_inp, n_out]`.
        n_inp: number of input vectors, or -1 for a variable number (then `d_inp` is required, because the
            betas are computed from each input by `Linear(d_inp, n_out)`).
        n_out: number of output vectors (>= 2).
        n_iters: number of routing iterations (>= 1). Default: 2.
        return_dict: if True, calling the layer returns the reference's dict of tensors instead of `x_out`.
        d_inp: size of input vectors; required with `n_inp=-1`, checked against inputs when given.
        device, dtype: where and in what precision to create the betas (A, F, G, S are yours).
    """

    def __init__(
        self,
        A: nn.Module,
        F: nn.Module,
        G: nn.Module,
        S: nn.Module,
        n_inp: int,
        n_out: int,
        n_iters: int = 2,
        return_dict: bool = False,
        d_inp: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_config(n_inp, n_out, n_iters)
        if n_inp == -1 and d_inp is None:
            raise ValueError(
                "DefinableVectorRouting(n_inp=-1) needs d_inp, the size of input vectors: with a variable number "
                "of inputs the betas are computed from each input by Linear(d_inp, n_out)."
            )
        self.n_inp, self.n_out, self.n_iters, self.return_dict, self.d_inp = (
            n_inp,
            n_out,
            n_iters,
            return_dict,
            d_inp,
        )
        self.A, self.F, self.G, self.S = A, F, G, S
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("CONST_ones_over_n_out", torch.ones(n_out, **kw) / n_out)
        add_betas(self, n_inp, n_out, d_inp, **kw)

    def extra_repr(self) -> str:
        return f"n_inp={self.n_inp}, n_out={self.n_out}, d_inp={self.d_inp}, n_iters={self.n_iters}"

    def forward(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor | None]:
        """Route `x_inp [..., n_inp, d_inp]`; return `x_out [..., n_out, d_out]` (or a dict, see `return_dict`)."""
        out = self.route(x_inp, mask=mask, pad_mask=pad_mask)
        return out.to_dict() if self.return_dict else out.x_out

    def route(
        self, x_inp: torch.Tensor, mask: torch.Tensor | None = None, pad_mask: torch.Tensor | None = None
    ) -> VectorRoutingOutput:
        """Route and return the outputs with the credit that produced them.

        Args:
            x_inp: input vectors `[..., n_inp, d_inp]`.
            mask: optional bool `[n_inp, n_out]` or `[..., n_inp, n_out]`, True where an output ignores an input.
            pad_mask: optional bool `[..., n_inp]`, True on padding; padding gets zero credit.
        """
        check_inputs(x_inp, self.n_inp, self.d_inp)
        batch, n = tuple(x_inp.shape[:-2]), x_inp.shape[-2]
        pair_mask = check_masks(mask, pad_mask, batch, n, self.n_out)
        if self.n_inp > 0:
            beta_use, beta_ign = self.beta_use, self.beta_ign  # [ij], [ij]
        else:
            beta_use, beta_ign = (
                self.compute_beta_use(x_inp),
                self.compute_beta_ign(x_inp),
            )  # [...ij], [...ij]
        a_inp = self.A(x_inp).view(x_inp.shape[:-1])  # [...i]
        V = self.F(x_inp).view(*a_inp.shape, self.n_out, -1)  # [...ijh]

        f_a_inp = activation(a_inp, pair_mask)  # [...i1] or [...ij]
        bsum = beta_use + beta_ign  # [ij] or [...ij]
        # Algorithm 1 as in `routing/efficient.py`, with A, F, G and S the given modules.
        pred_x_inp = S = x_out = None
        for t in range(self.n_iters):
            # E-step
            if t == 0:
                R = uniform_routing(self.CONST_ones_over_n_out, pair_mask)  # [j] or [...ij]
            else:
                pred_x_inp = self.G(x_out)  # [...jd]
                S = self.S(x_inp, pred_x_inp)  # [...ij]
                R = masked_softmax(S, pair_mask)  # [...ij]
            # D-step and the M-step's credit: phi = beta_use * D_use - beta_ign * D_ign
            phi = credit(f_a_inp, R, bsum, beta_ign)  # [...ij]
            # M-step
            x_out = (phi.unsqueeze(-1) * V).sum(dim=-3)  # [...jh]
        out = VectorRoutingOutput(
            x_out=x_out, phi=phi, R=R.expand(phi.shape), a_inp=a_inp, f_a_inp=f_a_inp, pred_x_inp=pred_x_inp,
            S=S, V=V,
        )  # fmt: skip
        announce(self, out)
        return out
