"""Fit a routing head on a frozen backbone, the way "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022,
Section 4) trains its heads: RAdam, a one-cycle learning-rate schedule (max 1e-3, 30% warm-up), mixup of hidden
states and soft targets, and cross-entropy.

Hidden states are computed once and cached on disk (`training/cache.py`). Launched with `torchrun --nproc_per_node N`,
training is data-parallel (torch.distributed with gloo on the CPU): each process takes its share of every
epoch's batches and DistributedDataParallel averages the gradients, so the result is the same kind of head.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from creditlens.routing import RoutingHead

from ..data.userdata import LabelledData
from .cache import HiddenStateCache, build_cache


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of head training.

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per optimizer step (over all processes).
        lr: peak learning rate of the one-cycle schedule (`--lr` on the command line).
        mixup_alpha: mixup draws each sample's weight from Beta(alpha, alpha); 0 turns mixup off. The paper
            uses 0.2 for images and 0.65 for texts.
        n_hid: vectors in the head's two hidden routings.
        d_hid: size of each of those vectors (None: the backbone's `d_emb`, as in the paper).
        seed: seed of the head's initialisation and of the batch order.
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    mixup_alpha: float = 0.2
    n_hid: int = 64
    seed: int = 0
    d_hid: int | None = None


def train_head(
    backbone: torch.nn.Module,
    backbone_key: str,
    n_classes: int,
    train: LabelledData,
    val: LabelledData | None,
    test: LabelledData | None,
    config: TrainConfig,
    cache_dir: str | os.PathLike,
) -> tuple[RoutingHead, dict[str, Any]]:
    """Train a `RoutingHead` on the backbone's hidden states; keep the epoch with the best validation accuracy
    (the last epoch if there is no validation split: a final fit, once a recipe has been chosen on one).

    Args:
        backbone: a frozen backbone with `d_depth`, `d_emb` and `encode(inputs) -> Encoding`.
        backbone_key: what identifies the backbone, naming its cached hidden states (see `build_cache`).
        n_classes: number of classes.
        train, val, test: the data splits (val and test may be None).
        config: hyperparameters.
        cache_dir: where hidden states are cached.

    Returns:
        The best head (on every process) and its metrics: validation accuracy per epoch, the best epoch, and
        the test accuracy (those of a split that is None left out).
    """
    rank, world, joined = _distributed()
    caches = {}
    for name, data in (("train", train), ("val", val), ("test", test)):
        if data is None:
            continue
        if rank == 0:  # one process encodes, the others then open the same cache
            caches[name] = build_cache(
                backbone, backbone_key, data.inputs, cache_dir, desc=f"encoding {name}"
            )
        _barrier(world)
        if rank != 0:
            caches[name] = build_cache(
                backbone, backbone_key, data.inputs, cache_dir, desc=f"encoding {name}"
            )
    torch.manual_seed(config.seed)
    head = RoutingHead(backbone.d_depth, backbone.d_emb, n_classes, n_hid=config.n_hid, d_hid=config.d_hid)
    model = torch.nn.parallel.DistributedDataParallel(head) if world > 1 else head
    steps_per_epoch = max(1, len(train.labels) // config.batch_size)
    optimizer = torch.optim.RAdam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.3
    )
    labels = torch.as_tensor(train.labels)
    mixup = (
        torch.distributions.Beta(config.mixup_alpha, config.mixup_alpha) if config.mixup_alpha > 0 else None
    )
    history, best_acc, best_state = [], -1.0, None
    for epoch in range(config.epochs):
        order = np.random.default_rng(config.seed + epoch).permutation(len(labels))
        model.train()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=rank != 0)
        for step in bar:
            batch = order[step * config.batch_size : (step + 1) * config.batch_size][rank::world]
            states, pad_mask = caches["train"].batch(batch)
            targets = F.one_hot(labels[np.sort(batch)], n_classes).float()  # [bc]
            if mixup is not None:
                states, pad_mask, targets = _mix(states, pad_mask, targets, mixup)
            loss = F.cross_entropy(model(states, pad_mask), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if val is None:
            continue
        val_acc = accuracy(head, caches["val"], val.labels)
        history.append(val_acc)
        if rank == 0:
            tqdm.write(f"epoch {epoch + 1}: validation accuracy {val_acc:.4f}")
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(head.state_dict())
    metrics = {"train_size": len(train.labels), "processes": world, "config": asdict(config)}
    if val is not None:
        head.load_state_dict(best_state)
        metrics |= {
            "val_accuracy_per_epoch": history,
            "best_epoch": history.index(best_acc) + 1,
            "val_accuracy": best_acc,
            "val_size": len(val.labels),
        }
    if test is not None:
        metrics["test_accuracy"] = accuracy(head, caches["test"], test.labels)
        metrics["test_size"] = len(test.labels)
    if joined:
        # A process that exits with the group's threads still running aborts, so all wait, then leave.
        dist.barrier()
        dist.destroy_process_group()
    return head, metrics


def accuracy(head: RoutingHead, cache: HiddenStateCache, labels: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy of a head on cached hidden states."""
    head.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(cache), batch_size):
            index = np.arange(start, min(start + batch_size, len(cache)))
            states, pad_mask = cache.batch(index)
            correct += int((head(states, pad_mask).argmax(-1).numpy() == labels[index]).sum())
    return correct / len(cache)


def _mix(
    states: torch.Tensor,
    pad_mask: torch.Tensor | None,
    targets: torch.Tensor,
    mixup: torch.distributions.Beta,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Mix each sample with the next one in the batch (weights from Beta), states and targets alike."""
    r = mixup.sample((len(states),))  # [b]
    partner = torch.roll(torch.arange(len(states)), -1)  # [b]
    states = states.lerp(states[partner], r[:, None, None, None])  # [bpld]
    targets = targets.lerp(targets[partner], r[:, None])  # [bc]
    if pad_mask is not None:
        pad_mask = pad_mask & pad_mask[partner]  # a position is padding only if it is in both samples
    return states, pad_mask, targets


def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, joined), joining the process group that torchrun set up if no one has yet."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    joined = world > 1 and not dist.is_initialized()
    if joined:
        dist.init_process_group("gloo")
    return (dist.get_rank(), world, joined) if world > 1 else (0, 1, False)


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()
