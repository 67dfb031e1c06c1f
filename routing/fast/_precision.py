"""Reduced precision for the matrix products of the vector routings (Heinsen 2022, Algorithm 1) under autocast.

It is opt-in: outside `torch.autocast` nothing here changes a result. Inside, for example
`torch.autocast("cpu", dtype=torch.bfloat16)`, the plain call of `EfficientVectorRouting` (`_lean.py`,
`_scalar.py`, `_small.py`) runs its matrix products in autocast's lower precision (the votes' projections, the
E-step's scores `x_inp pred_x_inp^T`, the M-step's sums `phi^T x_inp`, the betas' products, and all of their
gradients; with `n_inp=-1` also the activation scores `x_inp W_A^T`, though not their gradient) and everything
else in the parameters' precision: the activations f(a), the log-sigmoid scores and the softmax over outputs,
phi, and the sums over chunks of inputs. A product is rounded to the lower precision once (bfloat16 keeps 8
bits of mantissa; the products themselves accumulate in float32) and then added in float32. On this path the
lean call's elementwise work runs as compiled kernels (`_fused.py`), still in float32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


def low_precision(device: torch.device, dtype: torch.dtype) -> torch.dtype | None:
    """autocast's lower precision for the matrix products of float32 tensors on `device`, or None: autocast is
    off, or `dtype` (the parameters') is not one autocast lowers.
    """
    if dtype != torch.float32 or not torch.is_autocast_enabled(device.type):
        return None
    return torch.get_autocast_dtype(device.type)


def autocast_off(device: torch.device) -> AbstractContextManager:
    """A context in which autocast leaves every operation on `device` as written."""
    return torch.autocast(device.type, enabled=False)


def autocast_as(device: torch.device, low: torch.dtype | None) -> AbstractContextManager:
    """A context with autocast to `low` on `device` (off if `low` is None)."""
    return torch.autocast(device.type, dtype=low, enabled=low is not None)


def to_low(t: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """t in the precision of matrix products (itself in full precision)."""
    return t if low is None else t.to(low)


def matmul(a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """`a @ b`, computed in `low` precision if given, returned in the higher precision of a and b."""
    if low is None:
        return a @ b
    return (a.to(low) @ b.to(low)).to(torch.promote_types(a.dtype, b.dtype))


def product(a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """`a @ b`, computed and returned in `low` precision if given (for a consumer that takes either)."""
    return a @ b if low is None else a.to(low) @ b.to(low)


def addmm(
    bias: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    low: torch.dtype | None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """`bias + a @ b` for 2-D or batched 3-D a and b, the product computed in `low` precision if given and the sum
    in bias's (written to `out` if given)."""
    if low is None:
        return (torch.baddbmm if a.dim() == 3 else torch.addmm)(bias, a, b, out=out)
    return torch.add(bias, a.to(low) @ b.to(low), out=out)


def matmul_into(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """`out = a @ b`, computed in `low` precision if given, written in out's."""
    if low is None:
        return torch.matmul(a, b, out=out)
    return out.copy_(a.to(low) @ b.to(low))


def add_matmul_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """`out += a @ b` for 2-D or batched 3-D `out`: fused in full precision, or the product computed in `low`
    precision and added in out's."""
    if low is None:
        return out.baddbmm_(a, b) if out.dim() == 3 else out.addmm_(a, b)
    return out.add_(a.to(low) @ b.to(low))
