"""Attention-based relevance: attention rollout, raw last-block attention, gradient-weighted rollout.

All three read the attention probabilities `A_l` `[B, n_heads, n_pos, n_pos]` of each block `l` (rows are
queries) and return the relevance `[B, n_pos]` of each position as seen from `readout` `[B, n_pos]`: the
weights of the query rows the classifier reads (for a head that routes every position, uniform over the real
positions; for a class-token model, one-hot on that token).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..carry import identity, rollout_matrices


def rollout(maps: Sequence[torch.Tensor], readout: torch.Tensor) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema 2020).

    Each block's head-averaged attention gets the identity added for the residual connection, `0.5 * A + 0.5 *
    I`, rows renormalised; the blocks' matrices are multiplied from the last block down to the first.

    Args:
        maps: per block, first to last, `[B, n_heads, n_pos, n_pos]`.
        readout: `[B, n_pos]` weights of the query rows the classifier reads.

    Returns:
        `[B, n_pos]` relevance of each position.
    """
    return _read(rollout_matrices(maps)[-1], readout)


def credit_through_rollout(credit: torch.Tensor, maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Credit of hidden states at every depth carried back to input positions along the attention rollout.

    The state of position `q` at depth `k` mixes the inputs with the weights of row `q` of the rollout to
    depth `k`, so its credit is shared out with the same weights (the sequential recipe of Appendix A, with
    the rollout standing in for the blocks' credit).

    Args:
        credit: `[B, n_pos, d_depth]` credit of each position at each depth, `d_depth = len(maps) + 1`.
        maps: per block, first to last, `[B, n_heads, n_pos, n_pos]`.

    Returns:
        `[B, n_pos]` credit of each input position.
    """
    joints = rollout_matrices(maps)
    if credit.shape[-1] != len(joints):
        raise ValueError(f"credit has {credit.shape[-1]} depths, but {len(maps)} blocks make {len(joints)}.")
    return sum(credit[..., k].unsqueeze(-2) @ joint for k, joint in enumerate(joints)).squeeze(-2)  # [bk]


def last_attention(maps: Sequence[torch.Tensor], readout: torch.Tensor) -> torch.Tensor:
    """Raw attention of the last block, averaged over heads: `[B, n_pos]`."""
    return _read(maps[-1].mean(1), readout)


def grad_rollout(
    maps: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], readout: torch.Tensor
) -> torch.Tensor:
    """Gradient-weighted attention rollout (Chefer, Gur and Wolf 2021, "Generic Attention-model
    Explainability"): `R <- R + mean_h[(dy/dA * A)^+] @ R` from the first block to the last, `R = I` at first.

    Args:
        maps: per block, first to last, attention probabilities `[B, n_heads, n_pos, n_pos]`.
        grads: the gradient of the explained class score with respect to each map, same shapes.
        readout: `[B, n_pos]` weights of the query rows the classifier reads.

    Returns:
        `[B, n_pos]` relevance of each position.
    """
    if len(maps) != len(grads):
        raise ValueError(f"got {len(maps)} attention maps but {len(grads)} gradients.")
    relevance = identity(maps[0])  # [bqk]
    for attention, grad in zip(maps, grads):
        weighted = (grad * attention).clamp(min=0).mean(1)  # [bqk]
        relevance = relevance + weighted @ relevance
    return _read(relevance, readout)


def _read(joint: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """`[B, n_pos]`: the query rows of `joint` `[B, n_pos, n_pos]` weighted by `readout` `[B, n_pos]`."""
    weights = readout / readout.sum(-1, keepdim=True)  # [bq]
    return (weights.unsqueeze(-1) * joint).sum(-2)  # [bk]
