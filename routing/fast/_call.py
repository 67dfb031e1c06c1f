"""One plain call of `EfficientVectorRouting` (Heinsen 2022, Algorithm 1 with the efficient A, F, G, S of
Section 3) as the hand-written forward and backward passes of `_lean.py` and `_scalar.py` take it: the input
with its batch dimensions flattened to one, the parameters by name, the masks, the chunks of inputs, and the
precision of matrix products (see `_precision.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from types import SimpleNamespace

import torch
from torch import nn

from ._precision import add_matmul_, low_precision, matmul, to_low
from ._route import chunk_rows, votes_are_smaller
from ._spare import give_back, low_copy

# Parameters after the M-step's sums, whose gradients `_small.py` gives.
SMALL = ("W_F1", "W_F2", "B_F2", "W_G1", "W_G2", "B_G2")


def make_call(
    module: nn.Module, x_inp: torch.Tensor, pair_mask: torch.Tensor | None, scale: torch.Tensor
) -> Call:
    """The call of `module` on `x_inp [..., n_inp, d_inp]`.

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
    # The routing computes in its parameters' precision: an input in another (say, bfloat16 from a layer run
    # under autocast) is converted, once; one already in the precision of matrix products serves for those.
    x_given = x_inp.reshape(samples, n, d)  # [bid]
    low = low_precision(x_inp.device, params[0].dtype)
    x = x_given.to(params[0].dtype).contiguous()  # [bid]
    block = None
    if low is None:
        x_low = x  # [bid]
    elif x_given.dtype == low:
        x_low = x_given.contiguous()  # [bid]
    else:
        x_low, block = low_copy(x, low)  # [bid], in memory that `Call.release` hands on (see `_spare.py`)
    return Call(
        module=module, p=dict(zip(names, params)), batch=batch, x=x, x_low=x_low, x_low_block=block,
        x_dtype=x_inp.dtype, low=low,
        mask=None if pair_mask is None else pair_mask.reshape(-1, n, n_out),
        flat_scale=scale.expand(*batch, 1).reshape(-1, 1), chunks=_chunks(samples, n, n_out, low),
        scalar=votes_are_smaller(module, x_inp),
    )  # fmt: skip


def _param_names(m: nn.Module) -> tuple[str, ...]:
    if m.n_inp > 0:
        betas = ("beta_use", "beta_ign")
    else:
        betas = tuple(f"compute_beta_{k}.{w}" for k in ("use", "ign") for w in ("weight", "bias"))
    return ("W_A", "B_A", "W_S", "B_S", *SMALL, *betas)


def _chunks(samples: int, n: int, n_out: int, low: torch.dtype | None) -> list[tuple[slice, slice]]:
    """(samples, inputs) of chunks of at most `chunk_rows` inputs: runs of whole samples, or parts of one.

    Either way a chunk of the contiguous `[b, i, d]` input is itself contiguous, so it flattens to a matrix.
    Chunks are made as even as they can be, so that their temporaries are of one size and the allocator
    reuses the same blocks for every chunk.
    """
    rows = chunk_rows(1, n_out, low)
    if rows < n:
        step = -(-n // -(-n // rows))  # n split into ceil(n / rows) even parts
        return [
            (slice(b, b + 1), slice(i, min(i + step, n))) for b in range(samples) for i in range(0, n, step)
        ]
    per_chunk = -(-samples // -(-samples // (rows // n)))
    return [(slice(b, min(b + per_chunk, samples)), slice(0, n)) for b in range(0, samples, per_chunk)]


@dataclass
class Call:
    """One call's inputs and parameters, with the batch dimensions flattened to one (b)."""

    module: nn.Module
    p: dict[str, torch.Tensor]  # the parameters by name, as passed to `LeanRouting`
    batch: tuple[int, ...]
    x: torch.Tensor  # [bid], in the parameters' precision
    # [bid]: x in the precision of matrix products, converted once per call (x itself in full precision)
    x_low: torch.Tensor
    x_low_block: torch.Tensor | None  # the memory of a copy x_low, to hand on when the call is done; or None
    x_dtype: torch.dtype  # the given input's precision, which its gradient takes
    low: torch.dtype | None  # autocast's lower precision for matrix products, or None
    mask: torch.Tensor | None  # [bij], b either 1 or all samples
    flat_scale: torch.Tensor  # [b1]
    chunks: list[tuple[slice, slice]]
    scalar: bool  # whether the layer routes by its scalar votes (`_scalar.py`)
    _small: SimpleNamespace | None = None  # `small()`, made on first use
    _beta_weights: tuple[torch.Tensor, torch.Tensor] | None = None  # `beta_weights()`, made on first use

    def release(self) -> None:
        """Called when the passes are done with `x_low`: its memory may then hold the next call's."""
        if self.x_low_block is not None:
            give_back(self.x_low_block)
            self.x_low_block = None

    def rows(self, name: str, inputs: slice) -> torch.Tensor:
        """A per-input parameter's rows for these inputs (all of it when the layer has `n_inp=-1`)."""
        return self.p[name] if self.module.n_inp < 0 else self.p[name][inputs]

    def mask_of(self, samples: slice, inputs: slice) -> torch.Tensor | None:
        if self.mask is None:
            return None
        return self.mask[:, inputs] if self.mask.shape[0] == 1 else self.mask[samples, inputs]  # [bij]

    def small(self) -> SimpleNamespace:
        """The parameters of `SMALL` as attributes, as `_vote` and `_predict` take them. W_F2 and W_G1 enter
        only matrix products: in reduced precision they are cast once per call (here), not at every use."""
        if self._small is None:
            cast = {k: to_low(self.p[k], self.low) for k in ("W_F2", "W_G1")}
            self._small = SimpleNamespace(**{k: cast.get(k, self.p[k]) for k in SMALL})
        return self._small

    def beta_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight `[2 n_out, d_inp]` (in the precision of matrix products) and bias `[2 n_out]` computing
        beta_use and beta_ign in one product; made once per call."""
        if self._beta_weights is None:
            p = self.p
            weight = torch.cat([p["compute_beta_use.weight"], p["compute_beta_ign.weight"]])  # [2j, d]
            bias = torch.cat([p["compute_beta_use.bias"], p["compute_beta_ign.bias"]])  # [2j]
            self._beta_weights = to_low(weight, self.low), bias
        return self._beta_weights

    def betas_backward(
        self,
        g_betas: torch.Tensor,
        x_flat: torch.Tensor,
        grads: dict[str, torch.Tensor],
        gx_flat: torch.Tensor | None,
    ) -> None:
        """Pass the gradient of computed betas `[(b i), 2 n_out]` (beta_use's, then beta_ign's) on to the
        weights and biases of their Linear layers (those in `grads`) and, if given, to the inputs' `gx_flat
        [(b i), d_inp]`, with one matrix product each for both betas. `x_flat [(b i), d_inp]`: the inputs, in
        the precision of matrix products."""
        j = self.module.n_out
        g_weight, g_bias = matmul(g_betas.mT, x_flat, self.low), g_betas.sum(dim=0)  # [(2j)d], [2j]
        for k, which in enumerate(("use", "ign")):
            for name, g in (
                (f"compute_beta_{which}.weight", g_weight),
                (f"compute_beta_{which}.bias", g_bias),
            ):
                if name in grads:
                    grads[name] += g[k * j : (k + 1) * j]  # [jd] or [j]
        if gx_flat is not None:
            add_matmul_(gx_flat, g_betas, self.beta_weights()[0], self.low)  # [(bi)d]

    def add_rows(self, grad: torch.Tensor, inputs: slice, per_input: torch.Tensor) -> None:
        """Add a per-input gradient `[b, i, k]` to a parameter's `[n_inp, k]` (`[1, k]` with `n_inp=-1`)."""
        if self.module.n_inp < 0:
            grad += per_input.sum(dim=(0, 1))  # [1k]
        else:
            grad[inputs] += per_input[0] if per_input.shape[0] == 1 else per_input.sum(dim=0)  # [ik]
