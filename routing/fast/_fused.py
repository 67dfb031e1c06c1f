"""The elementwise work of the lean routing's passes (`_lean.py`), one chunk of inputs at a time, fused into
compiled kernels on the opt-in reduced-precision path.

Per chunk and iteration, the forward pass computes from the E-step's scores z the routing probabilities R
(log-sigmoid, softmax over outputs), the activations f(a) and the credit phi, and the backward pass recomputes
them and derives a dozen gradients (see `_lean.py`). Run eagerly, each of these steps is one pass over a
`[b, i, n_out]` block of memory. In float32 the matrix products dominate and these passes are a fifth of the
time; under bfloat16 autocast the products run about 3.5x faster and the passes become half of it.

So under autocast `fused(fn, low, ...)` runs these functions compiled by `torch.compile` (inductor generates one
C++ loop for several steps; the first call with each kind of input compiles, which takes seconds, and inductor
caches the result on disk), and in float32 it runs them as written: the default path needs no compiler, and
its numerics do not change. If compiling fails (say, no C++ compiler is installed), a warning says so and the
functions run as written: slower, not different.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from ..efficient import activation, credit, e_step, uniform_routing

# The compiled kernels, by (function, compiler): `torch.compile` is looked up at each call, so a replaced
# compiler (an identity to run the functions as written, or one that fails) gets kernels of its own. After a
# failed compilation every function maps to itself: it warns once, then runs as written.
_KERNELS: dict[tuple[Callable, Callable], Callable] = {}


def fused(fn: Callable, low: torch.dtype | None, *args):
    """`fn(*args, low)`: compiled if `low` (autocast's precision of matrix products) is given, else as written."""
    if low is None:
        return fn(*args, low)
    compiler = torch.compile
    kernel = _KERNELS.get((fn, compiler))
    if kernel is None:
        kernel = _KERNELS[fn, compiler] = compiler(fn, dynamic=True)
    if kernel is fn:
        return fn(*args, low)
    try:
        # One compiled variant per kind of call (first iteration or not, masked or not, per-input betas or not,
        # batch of one or more): more than dynamo's default limit of 8 for one function in a varied model.
        with torch._dynamo.config.patch(recompile_limit=64):
            return kernel(*args, low)
    # Inductor raises several kinds of error (no compiler, a failed build); fn itself is right, so it runs as is.
    except Exception as error:
        for each in (forward_chunk, backward_chunk):
            _KERNELS[each, compiler] = each
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        warnings.warn(
            f"creditlens could not compile the routing's elementwise work for {low} autocast "
            f"({type(error).__name__}: {message}); it runs uncompiled: same results, slower. torch.compile's "
            "CPU backend needs a C++ compiler (for example `apt-get install g++`).",
            RuntimeWarning,
            stacklevel=3,
        )
        return fn(*args, low)


def _routing(
    a: torch.Tensor,
    mask: torch.Tensor | None,
    prior: torch.Tensor,
    z: torch.Tensor | None,
    B_S: torch.Tensor,
    W_S: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """f(a) `[bi1]` (or `[bij]` masked), R `[bij]` (or the prior `[j]`) and u = z * W_S + B_S `[bij]` (None for
    the first iteration, `z` None)."""
    f = activation(a, mask)  # [bi1] or [bij]
    if z is None:
        return f, uniform_routing(prior, mask), None  # [j] or [bij]
    R, _, u = e_step(z.to(B_S.dtype), W_S, B_S, mask)  # [bij] each
    return f, R, u


def forward_chunk(
    a: torch.Tensor,
    mask: torch.Tensor | None,
    bsum: torch.Tensor,
    bign: torch.Tensor,
    prior: torch.Tensor,
    z: torch.Tensor | None,
    B_S: torch.Tensor,
    W_S: torch.Tensor,
    low: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk's credit `phi = f(a) * (R * bsum - beta_ign)`, transposed for the M-step's product
    `phi^T x_inp` (`[b, n_out, i]`; contiguous in `low` precision if given), and its sum over inputs `[b, n_out]`.

    Args:
        a: activation scores `[b, i]`.
        mask: bool `[b, i, n_out]`, True = pair ignored; or None.
        bsum, bign: `beta_use + beta_ign` and `beta_ign`, `[b, i, n_out]` or `[i, n_out]`.
        prior: the layer's `CONST_ones_over_n_out` `[n_out]`, the first iteration's R.
        z: the E-step's scores `x_inp pred_x_inp^T` `[b, i, n_out]`, in any precision; None in the first
            iteration.
        B_S, W_S: the scores' bias and scale, `[i, n_out]` (or `[1, n_out]`).
        low: the precision of matrix products, or None.
    """
    f, R, _ = _routing(a, mask, prior, z, B_S, W_S)
    phi = credit(f, R, bsum, bign)  # [bij]
    return _transposed(phi, low), phi.sum(dim=-2)  # [bji], [bj]


def _transposed(t: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """`t.mT`: a view in full precision (the float32 product reads it as is), contiguous in `low` precision (the
    bfloat16 product would copy a view)."""
    return t.mT if low is None else t.mT.to(low).contiguous()


def backward_chunk(
    gphi: torch.Tensor,
    gs: torch.Tensor | None,
    a: torch.Tensor,
    mask: torch.Tensor | None,
    bsum: torch.Tensor,
    bign: torch.Tensor,
    prior: torch.Tensor,
    z: torch.Tensor | None,
    B_S: torch.Tensor,
    W_S: torch.Tensor,
    phi_in_bsum: bool,
    need_phi: bool,
    sum_dims: tuple[int, ...],
    low: torch.dtype | None,
) -> tuple[torch.Tensor | None, ...]:
    """One chunk's gradients (`_lean.py`'s formulas) given gphi, the gradient of its phi.

    Args:
        gphi: `x_inp gA^T` `[b, i, n_out]` (any precision), plus gs if `gs` is None. Overwritten when it is
            in full precision.
        gs: the gradient of the M-step's sum over inputs `[b, 1, n_out]`, or None (already in gphi).
        a, mask, bsum, bign, prior, z, B_S, W_S: as for `forward_chunk`.
        phi_in_bsum: bsum holds `R * bsum - beta_ign` already (the last pass of computed betas).
        need_phi: whether to return phi (for the input's gradient).
        sum_dims: the axes to sum W_S's and B_S's gradients over: `(0,)` for per-input parameters, `(0, 1)`.
        low: the precision of matrix products, or None.

    Returns:
        phi (in `low` precision if given) or None; ga `[b, i]`; `gpf = gphi * f` and `g_use = gpf * R`
        `[b, i, n_out]`; and, after the first iteration (else None), the gradient of z times W_S (gz), transposed
        as `forward_chunk` transposes phi, and as is if `need_phi` (in `low` precision if given), and the
        gradients of W_S and B_S summed over `sum_dims`.
    """
    f, R, u = _routing(a, mask, prior, z, B_S, W_S)
    phi = f * bsum if phi_in_bsum else credit(f, R, bsum, bign)  # [bij]
    gphi = gphi.to(f.dtype) if gs is None else gphi.to(f.dtype) + gs  # [bij]
    ga = (gphi * phi).sum(dim=-1) * torch.sigmoid(-a)  # [bi]
    phi_out = None if not need_phi else phi if low is None else phi.to(low)  # [bij]
    gpf = gphi.mul_(f)  # [bij]
    g_use = gpf * R  # [bij]
    if u is None:
        return phi_out, ga, gpf, g_use, None, None, None, None
    gR = gpf * bsum  # [bij]
    gu = R * (gR - (gR * R).sum(dim=-1, keepdim=True)) * torch.sigmoid(-u)  # [bij]
    gz = gu * W_S  # [bij]
    gW_S, gB_S = (gu * z).sum(dim=sum_dims), gu.sum(dim=sum_dims)  # [ij] or [j] each
    gz_out = None if not need_phi else gz if low is None else gz.to(low)  # [bij]
    return phi_out, ga, gpf, g_use, _transposed(gz, low), gz_out, gW_S, gB_S
