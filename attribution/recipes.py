"""Recipes that compose the credit `phi` of several routings into end-to-end credit (Heinsen 2022, App. A).

A credit matrix `[..., n_inp, n_out]` says how much each output credits each input. Appendix A chains the
credit of sequential routings by matrix products, scaling the running product to unit standard deviation
(plus `eps`) after every step, the first included. `sequential` implements that chain; `residual`,
`parallel_concat` and `parallel_sum` turn the skip connections and parallel branches of other architectures
into credit matrices that chain with it.

Scaling is per sample by default (the standard deviation over each sample's `[n_inp, n_out]` matrix), so a
sample's credit is the same whether it is explained alone or inside a batch; `per_sample=False` uses one
standard deviation over the whole tensor, as the paper's code does.

All recipes are differentiable and never modify their arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

EPS = 1e-5


def sequential(phis: Sequence[torch.Tensor], *, eps: float = EPS, per_sample: bool = True) -> torch.Tensor:
    """End-to-end credit of routings applied one after the other (Appendix A of Heinsen 2022).

    `prod = scale(phis[0])`, then `prod = scale(prod @ phi)` for each next phi, where
    `scale(x) = x / (x.std() + eps)` uses the unbiased standard deviation.

    Args:
        phis: credit of each routing in forward order; `phis[k]` is `[..., n_k, n_{k+1}]`. Batch dimensions
            broadcast.
        eps: added to the standard deviation before dividing.
        per_sample: if True, scale each sample by the standard deviation of its own `[n_k, n_{k+1}]` matrix;
            if False, by one standard deviation over the whole tensor (the paper's code, bit for bit).

    Returns:
        Credit of each first input for each last output, `[..., n_0, n_K]`, with (nearly) unit standard
        deviation.
    """
    phis = _check_chain(phis, "sequential")
    prod = _scale(phis[0], eps, per_sample)  # [...ij]
    for phi in phis[1:]:
        prod = _scale(prod @ phi, eps, per_sample)  # [...ij]
    return prod


def sequential_for_classes(
    phis: Sequence[torch.Tensor],
    classes: int | Sequence[int] | torch.Tensor,
    *,
    eps: float = EPS,
    per_sample: bool = True,
) -> torch.Tensor:
    """End-to-end credit of selected outputs only, right to left: `phi_1 @ (phi_2 @ phi_3[..., sel])`.

    Much cheaper than `sequential` when the first credit matrix is large (a head's `n_pos * d_depth` rows) and
    only a few classes are wanted. Each step is scaled like `sequential`, but the steps are different
    matrices, so the result is `sequential(phis)[..., classes]` times a positive factor per sample (one factor
    per tensor with `per_sample=False`): the same direction, signs and rankings, and the same values after
    both are scaled to unit standard deviation over the selected columns.

    Args:
        phis: credit of each routing in forward order; `phis[k]` is `[..., n_k, n_{k+1}]`.
        classes: one output index or a sequence (or 1-D tensor) of indices into the last output axis `n_K`.
        eps: added to the standard deviation before dividing.
        per_sample: as in `sequential`.

    Returns:
        Credit `[..., n_0, n_sel]` of each first input for each selected output, in the order of `classes`.
    """
    phis = _check_chain(phis, "sequential_for_classes")
    n_last = phis[-1].shape[-1]
    sel = torch.as_tensor(classes, dtype=torch.long, device=phis[-1].device).reshape(-1)  # [j]
    if sel.numel() == 0:
        raise ValueError("sequential_for_classes needs at least one class index, got none.")
    if bool(((sel < -n_last) | (sel >= n_last)).any()):
        raise ValueError(
            f"class indices {sel.tolist()} out of range for {n_last} outputs "
            f"(last phi is {tuple(phis[-1].shape)})."
        )
    prod = _scale(phis[-1].index_select(-1, sel % n_last), eps, per_sample)  # [...ij]
    for phi in reversed(phis[:-1]):
        prod = _scale(phi @ prod, eps, per_sample)  # [...ij]
    return prod


def residual(
    phi_branch: torch.Tensor, *, alpha: float | torch.Tensor = 1.0, eps: float = EPS, per_sample: bool = True
) -> torch.Tensor:
    """Credit through a residual block `y = x + f(x)`, where `f` maps `n` vectors to `n` vectors.

    Derived by this project, not the paper's (its exact residual formula was not available):

        C = I + alpha * phi_branch / sum_i |phi_branch[i, j]|,   then scaled like `sequential`.

    Output `j` is `x_j + f(x)_j`. The skip path gives all of its credit to input `j` (the identity `I`). The
    branch spreads its credit over inputs in proportion to `phi_branch[:, j]`; each output's column is
    normalised to unit absolute sum because a routing layer-normalises each output vector, so the branch adds
    a vector of the same norm whatever the scale of its phi. With `alpha = 1` the skip and the branch each
    hold half of each output's absolute credit, which matches blocks whose input `x` is layer-normalised as
    well (both terms then have norm `sqrt(d)`); pass another `alpha` (for example the ratio of the norms of
    `f(x)_j` and `x_j`) otherwise.

    Properties: a branch with zero credit gives the (scaled) identity exactly; scaling a branch column by a
    positive factor changes nothing; off the diagonal, each output's credit has the sign and the ranking of
    the branch's; each output's own input gets exactly 1 more than the branch alone gives it (before scaling),
    so with `alpha <= 1` it has the largest credit of its output; raising the branch's credit of an input
    never lowers its rank for that output.
    Chaining blocks with `sequential` is associative up to a positive factor per sample.

    Args:
        phi_branch: credit of the branch, `[..., n, n]`; compose a chain of routings with `sequential` first.
        alpha: weight of the branch relative to the skip path: a non-negative float, or a tensor `[..., n]`
            with one weight per output.
        eps: added to the standard deviation in the final scaling.
        per_sample: as in `sequential` (the column normalisation is per sample in both modes).

    Returns:
        Credit of each input of the block for each of its outputs, `[..., n, n]`.
    """
    _check_credit(phi_branch, "phi_branch")
    n_inp, n_out = phi_branch.shape[-2:]
    if n_inp != n_out:
        raise ValueError(
            f"residual needs a branch with as many outputs as inputs (y = x + f(x)); phi_branch is "
            f"{tuple(phi_branch.shape)} (n_inp={n_inp}, n_out={n_out})."
        )
    alpha = torch.as_tensor(alpha, dtype=phi_branch.dtype, device=phi_branch.device)
    if alpha.dim() > 0:
        if alpha.shape[-1] != n_out:
            raise ValueError(f"alpha must be a float or [..., n={n_out}] weights, got {tuple(alpha.shape)}.")
        alpha = alpha.unsqueeze(-2)  # [...1j]
    if bool((alpha < 0).any()):
        raise ValueError("alpha must be non-negative (it weights the branch against the skip path).")
    col_abs = phi_branch.abs().sum(dim=-2, keepdim=True)  # [...1j]
    branch = phi_branch / torch.where(col_abs > 0, col_abs, torch.ones_like(col_abs))  # [...ij]
    eye = torch.eye(n_out, dtype=phi_branch.dtype, device=phi_branch.device)  # [ij]
    return _scale(eye + alpha * branch, eps, per_sample)  # [...ij]


def parallel_concat(
    phis: Sequence[torch.Tensor], *, eps: float = EPS, per_sample: bool = True
) -> torch.Tensor:
    """Credit of parallel branches over the same inputs whose outputs are concatenated along the sequence.

    Each branch's credit is scaled to unit standard deviation, the results are concatenated along the output
    axis, and the whole is scaled again, so no branch dominates because of the scale of its phi.

    Args:
        phis: credit of each branch, `[..., n_inp, n_out_k]`, all with the same `n_inp`.
        eps: added to each standard deviation.
        per_sample: as in `sequential`.

    Returns:
        Credit `[..., n_inp, sum_k n_out_k]`, the outputs in the order of the branches.
    """
    phis = _check_parallel(phis, "parallel_concat", same_n_out=False)
    scaled = [_scale(phi, eps, per_sample) for phi in phis]
    batch = torch.broadcast_shapes(*(phi.shape[:-2] for phi in phis))
    scaled = [phi.expand(*batch, *phi.shape[-2:]) for phi in scaled]
    return _scale(torch.cat(scaled, dim=-1), eps, per_sample)  # [...ij]


def parallel_sum(phis: Sequence[torch.Tensor], *, eps: float = EPS, per_sample: bool = True) -> torch.Tensor:
    """Credit of parallel branches over the same inputs whose outputs are added, `y = f_1(x) + f_2(x) + ...`.

    The sum of the branches' credits, each scaled to unit standard deviation, scaled again.

    Args:
        phis: credit of each branch, `[..., n_inp, n_out]`, all the same shape (batch dimensions broadcast).
        eps: added to each standard deviation.
        per_sample: as in `sequential`.

    Returns:
        Credit `[..., n_inp, n_out]`.
    """
    phis = _check_parallel(phis, "parallel_sum", same_n_out=True)
    total = _scale(phis[0], eps, per_sample)  # [...ij]
    for phi in phis[1:]:
        total = total + _scale(phi, eps, per_sample)  # [...ij]
    return _scale(total, eps, per_sample)  # [...ij]


def _scale(credit: torch.Tensor, eps: float, per_sample: bool) -> torch.Tensor:
    """`credit / (std + eps)` with the unbiased std of each sample's matrix, or of the whole tensor."""
    std = credit.std(dim=(-2, -1), keepdim=True) if per_sample else credit.std()  # [...11] or []
    return credit / (std + eps)  # [...ij]


def _check_credit(credit: object, name: str) -> None:
    if not isinstance(credit, torch.Tensor):
        raise TypeError(f"{name} must be a tensor [..., n_inp, n_out], got {type(credit).__name__}.")
    if credit.dim() < 2:
        raise ValueError(f"{name} must have shape [..., n_inp, n_out], got {tuple(credit.shape)}.")
    if credit.shape[-2] * credit.shape[-1] < 2:
        raise ValueError(
            f"{name} has shape {tuple(credit.shape)}: a credit matrix needs at least two entries per sample "
            f"for its standard deviation to be defined."
        )
    if not credit.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {credit.dtype}.")


def _check_list(phis: Sequence[torch.Tensor], recipe: str) -> list[torch.Tensor]:
    if isinstance(phis, torch.Tensor):
        raise TypeError(
            f"{recipe} takes a sequence of credit tensors, got a single tensor; wrap it in a list."
        )
    phis = list(phis)
    if not phis:
        raise ValueError(f"{recipe} needs at least one credit tensor, got an empty sequence.")
    for k, phi in enumerate(phis):
        _check_credit(phi, f"phis[{k}]")
    try:
        torch.broadcast_shapes(*(phi.shape[:-2] for phi in phis))
    except RuntimeError:
        shapes = [tuple(phi.shape) for phi in phis]
        raise ValueError(
            f"{recipe}: the batch dimensions of the credit tensors {shapes} do not broadcast."
        ) from None
    return phis


def _check_chain(phis: Sequence[torch.Tensor], recipe: str) -> list[torch.Tensor]:
    phis = _check_list(phis, recipe)
    for k, (left, right) in enumerate(zip(phis, phis[1:])):
        if left.shape[-1] != right.shape[-2]:
            raise ValueError(
                f"{recipe}: phis[{k}] {tuple(left.shape)} and phis[{k + 1}] {tuple(right.shape)} do not "
                f"chain: the outputs of one routing ({left.shape[-1]}) must be the inputs of the next "
                f"({right.shape[-2]})."
            )
    return phis


def _check_parallel(phis: Sequence[torch.Tensor], recipe: str, same_n_out: bool) -> list[torch.Tensor]:
    phis = _check_list(phis, recipe)
    shapes = [tuple(phi.shape) for phi in phis]
    if len({phi.shape[-2] for phi in phis}) > 1:
        raise ValueError(f"{recipe}: parallel branches must share their inputs (same n_inp), got {shapes}.")
    if same_n_out and len({phi.shape[-1] for phi in phis}) > 1:
        raise ValueError(f"{recipe}: summed branches must have the same n_out, got {shapes}.")
    return phis
