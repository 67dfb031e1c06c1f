"""Sanity checks of a relevance method: model randomisation (Adebayo et al. 2018) and class selectivity.

A map that stays the same when the model's parameters are replaced by random ones explains the input, not
the model. The routing head is randomised from the top down, one routing at a time (its last routing first),
each with fresh parameters drawn as at construction; after every stage the map is compared with the
original by Spearman rank correlation over the units.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .curves import spearman
from .methods import Method
from .probes import Batch, Probe

RANDOMISATION_PASS_BELOW = 0.5


@contextmanager
def randomised_head(probe: Probe, n_top: int, seed: int) -> Iterator[None]:
    """Within the block, the last `n_top` routings of the head have freshly initialised parameters."""
    head = probe.head
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for routing in list(head.route)[::-1][:n_top]:
                fresh = type(routing)(
                    n_inp=routing.n_inp,
                    n_out=routing.n_out,
                    d_inp=routing.d_inp,
                    d_out=routing.d_out,
                    n_iters=routing.n_iters,
                    device=routing.W_A.device,
                    dtype=routing.W_A.dtype,
                )
                routing.load_state_dict(fresh.state_dict())
        yield
    finally:
        head.load_state_dict(saved)


def randomisation_curve(
    method: Method, probe: Probe, batch: Batch, classes: torch.Tensor, seed: int
) -> list[float]:
    """Mean Spearman correlation of the method's map with its map on a head whose top 1, 2, ... routings are
    randomised (cascading, as Adebayo et al.); the last entry has every routing randomised."""
    original = method.fn(probe, batch, classes, torch.Generator().manual_seed(seed))  # [bp]
    curve = []
    for n_top in range(1, len(probe.head.route) + 1):
        with randomised_head(probe, n_top, seed):
            changed = method.fn(probe, batch, classes, torch.Generator().manual_seed(seed))  # [bp]
        curve.append(float(spearman(original, changed, batch.units).mean()))
    return curve


def class_selectivity(method: Method, probe: Probe, batch: Batch, seed: int) -> float:
    """Mean Spearman correlation of the maps for each sample's top two classes (lower: more selective)."""
    with torch.no_grad():
        top2 = probe.scores(batch).topk(2, dim=-1).indices  # [b2]
    maps = [method.fn(probe, batch, top2[:, i], torch.Generator().manual_seed(seed)) for i in range(2)]
    return float(spearman(maps[0], maps[1], batch.units).mean())
