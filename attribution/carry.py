"""Carrying a routing head's contributions from the hidden states it reads back to the input positions.

A deep hidden state is not its own patch or token: attention has mixed the positions by then. Two ways carry
each depth's contributions (`contributions.py`) to the input:

- `by_rollout` (no gradients): the state of position `p` at depth `k` mixes the inputs with the weights of
  row `p` of the attention rollout to depth `k` (Abnar and Zuidema 2020), so its contribution is shared out
  with those weights. Rows of the rollout sum to 1, so every depth keeps its total.
- `by_gradient` (one backward pass): gradient x input at the input (the pixels, whose patch embedding is
  linear, or the word embeddings), the gradient taken through the backbone with attention, norm statistics
  and MLP activation ratios held (`held.py`) from the head's own held gradient.

Shape letters: `B` samples, `p` positions read by the head, `q` input positions, `l` depths, `m` explained
classes, `d` embedding features, `S` gradient sources.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


def rollout_matrices(maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The rollout from the input to the output of each block: `[B, n_pos, n_pos]` per depth, the identity
    first (depth 0, the embedding output), then one matrix per block (row: position at that depth; column:
    input position)."""
    joints = [identity(maps[0])]  # [bqk]
    for attention in maps:
        mixed = 0.5 * attention.mean(1) + 0.5 * identity(attention)  # [bqk]
        mixed = mixed / mixed.sum(-1, keepdim=True)
        joints.append(mixed @ joints[-1])  # [bqk]
    return joints


def identity(attention: torch.Tensor) -> torch.Tensor:
    """`[B, n, n]` identity matrices matching `attention` `[B, ..., n, n]`."""
    n = attention.shape[-1]
    return torch.eye(n, dtype=attention.dtype, device=attention.device).expand(attention.shape[0], n, n)


def by_rollout(values: torch.Tensor, maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """`[B, q, l, m]` contributions of each depth carried to the input positions along the rollout.

    Args:
        values: `[B, p, l, m]` contributions of the hidden states (`d_depth = len(maps) + 1`).
        maps: per block, first to last, attention probabilities `[B, n_heads, p, p]`.
    """
    joints = torch.stack(rollout_matrices([m.float() for m in maps]), dim=1).to(values.dtype)  # [Blpq]
    if joints.shape[1] != values.shape[-2]:
        raise ValueError(
            f"{values.shape[-2]} depths of contributions, but {len(maps)} blocks make {joints.shape[1]}."
        )
    return torch.einsum("bplm,blpq->bqlm", values, joints)  # [Bqlm]


def by_gradient(
    states: torch.Tensor, leaf: torch.Tensor, sources: torch.Tensor, *, retain_graph: bool = False
) -> torch.Tensor:
    """`[S, *leaf.shape]` gradient x input at the input, one map per gradient source.

    Args:
        states: hidden states the head read (all depths `[B, p, l, d]`, or one depth's `[B, p, d]`), with the
            graph of a `held_statistics()` forward.
        leaf: the input that graph starts from (pixels `[B, C, H, W]` or word embeddings `[B, n, d]`).
        sources: `[S, *states.shape]` gradients at the states, one set per map wanted (for example the
            head's held gradient for one class).
        retain_graph: keep the graph for another call (another depth's states).
    """
    batched = sources.shape[0] > 1
    (grads,) = torch.autograd.grad(
        states, leaf, sources if batched else sources[0], retain_graph=retain_graph, is_grads_batched=batched
    )
    grads = grads if batched else grads.unsqueeze(0)  # [S, *leaf.shape]
    return leaf.detach().unsqueeze(0) * grads


@contextmanager
def output_leaf(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, the output of `module` (an input embedding) is a leaf that requires grad (the model's
    weights are frozen, so nothing else would); the list collects it, one tensor per forward pass."""
    taken: list[torch.Tensor] = []

    def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        taken.append(output.detach().requires_grad_(True))
        return taken[-1]

    handle = module.register_forward_hook(keep)
    try:
        yield taken
    finally:
        handle.remove()
