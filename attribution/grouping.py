"""Sums of credit over groups of inputs: depths, positions, tokens into words, sentences, patches.

Credit is additive over inputs (before normalisation an output is the credit-weighted sum of its inputs'
votes), so the credit of a group of inputs is the sum of its members' credit. This applies to the end-to-end
credit of Appendix A of Heinsen 2022 (each row of a chain's product is linear in the same row of its first
phi) as to any single phi. A head's first credit matrix has `n_pos * d_depth` rows, position-major
(`row = pos * d_depth + depth`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def group_sum(
    credit: torch.Tensor,
    groups: torch.Tensor | Sequence[Sequence[int]],
    *,
    dim: int = -2,
    n_groups: int | None = None,
) -> torch.Tensor:
    """Sum credit over groups of entries along one dimension (by default the inputs of `[..., n_inp, n_out]`).

    Args:
        credit: credit tensor, for example `[..., n_inp, n_out]`.
        groups: either an integer tensor `[n]` (`n = credit.shape[dim]`) giving each entry's group id, where a
            negative id leaves the entry out (special tokens, padding); or a sequence of index lists, one per
            group, which may overlap, leave entries out or be empty.
        dim: the dimension to group. Default: -2, the inputs.
        n_groups: number of groups when `groups` is a tensor of ids. Default: the largest id plus one.

    Returns:
        `credit` with `dim` replaced by one entry per group, each the sum of its members' credit.
    """
    if credit.dim() == 0:
        raise ValueError("group_sum needs a credit tensor with at least one dimension, got a scalar.")
    dim = _check_dim(credit, dim)
    n = credit.shape[dim]
    if isinstance(groups, torch.Tensor):
        return _sum_by_ids(credit, groups, dim, n_groups)
    if n_groups is not None and n_groups != len(groups):
        raise ValueError(f"n_groups={n_groups} but {len(groups)} index lists were given.")
    sums = []
    for g, members in enumerate(groups):
        index = torch.as_tensor(list(members), dtype=torch.long, device=credit.device)  # [m]
        if bool(((index < 0) | (index >= n)).any()):
            raise ValueError(f"group {g} has indices {index.tolist()} outside 0..{n - 1} (dimension {dim}).")
        sums.append(credit.index_select(dim, index).sum(dim=dim))
    if not sums:
        raise ValueError("group_sum needs at least one group, got an empty sequence.")
    return torch.stack(sums, dim=dim)


def split_depths(credit: torch.Tensor, d_depth: int) -> torch.Tensor:
    """View position-major credit `[..., n_pos * d_depth, n_out]` as `[..., n_pos, d_depth, n_out]`."""
    _check_rows(credit, d_depth)
    return credit.unflatten(-2, (credit.shape[-2] // d_depth, d_depth))  # [...pli]


def sum_over_depths(credit: torch.Tensor, d_depth: int) -> torch.Tensor:
    """Credit of each position summed over depths, `[..., n_pos * d_depth, n_out] -> [..., n_pos, n_out]`."""
    return split_depths(credit, d_depth).sum(dim=-2)  # [...pj]


def sum_over_positions(credit: torch.Tensor, d_depth: int) -> torch.Tensor:
    """Credit of each depth summed over positions `[..., n_pos * d_depth, n_out] -> [..., d_depth, n_out]`."""
    return split_depths(credit, d_depth).sum(dim=-3)  # [...lj]


def _sum_by_ids(credit: torch.Tensor, ids: torch.Tensor, dim: int, n_groups: int | None) -> torch.Tensor:
    n = credit.shape[dim]
    if ids.dim() != 1 or ids.shape[0] != n or ids.is_floating_point() or ids.dtype == torch.bool:
        raise ValueError(
            f"group ids must be an integer tensor [{n}] (one id per entry of dimension {dim} of credit "
            f"{tuple(credit.shape)}), got {ids.dtype} {tuple(ids.shape)}."
        )
    ids = ids.to(device=credit.device, dtype=torch.long)  # [i]
    keep = ids >= 0  # [i]
    if n_groups is None:
        n_groups = int(ids.max()) + 1 if bool(keep.any()) else 0
    if n_groups < 1:
        raise ValueError("group_sum needs at least one group; every id is negative (left out).")
    if bool((ids >= n_groups).any()):
        raise ValueError(f"group ids go up to {int(ids.max())}, but n_groups={n_groups}.")
    shape = list(credit.shape)
    shape[dim] = n_groups
    members = keep.nonzero().squeeze(-1)  # [m]
    return credit.new_zeros(shape).index_add(dim, ids[members], credit.index_select(dim, members))


def _check_dim(credit: torch.Tensor, dim: int) -> int:
    if not -credit.dim() <= dim < credit.dim():
        raise ValueError(f"dim={dim} is out of range for credit of shape {tuple(credit.shape)}.")
    return dim % credit.dim()


def _check_rows(credit: torch.Tensor, d_depth: int) -> None:
    if d_depth < 1:
        raise ValueError(f"d_depth must be a positive number of depths, got {d_depth}.")
    if credit.dim() < 2 or credit.shape[-2] % d_depth != 0:
        raise ValueError(
            f"credit must have shape [..., n_pos * d_depth, n_out] with d_depth={d_depth}, got "
            f"{tuple(credit.shape)}."
        )
