"""Train the bundled vision backbone: a small timm ViT, from scratch, on Fashion-MNIST.

The paper's vision heads (Heinsen 2022, Section 4) route the hidden states of every depth of a pretrained ViT.
No pretrained ViT loads offline, so creditlens ships its own: `fashion-mnist-vit`, trained by this module
(run as `creditlens train-backbone --out DIR --epochs N`) and saved in the format of
`creditlens.attribution.backbones.saved_vit` (`backbone.safetensors` + `backbone.json`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..backbones.saved_vit import (
    CONFIG_FORMAT,
    evaluate_accuracy,
    load_vit_backbone,
    normalise_pixels,
    read_vit_config,
    save_vit_backbone,
)
from ..data.datasets import FASHION_MNIST_CLASSES, FASHION_MNIST_VAL_SEED, fashion_mnist_splits

__all__ = ["AUGMENTATIONS", "DEFAULT_MODEL_KWARGS", "ViTTrainingResult", "train_vit_backbone"]

AUGMENTATIONS = ("none", "flip", "crop-flip")
DEFAULT_MODEL_KWARGS: dict[str, Any] = {
    "img_size": 28,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 10,
    "embed_dim": 64,
    "depth": 6,
    "num_heads": 4,
    "mlp_ratio": 2.0,
    "class_token": False,  # every position is a patch: the credit maps are exactly the 7 x 7 grid
    "global_pool": "avg",
}


@dataclass
class ViTTrainingResult:
    """What `train_vit_backbone` returns.

    Attributes:
        model: the trained ViT with the weights of its best validation epoch, in eval mode.
        config: the contents of `backbone.json`.
        directory: where `backbone.safetensors` and `backbone.json` were written.
    """

    model: nn.Module
    config: dict[str, Any]
    directory: Path


def train_vit_backbone(
    out_dir: str | os.PathLike,
    *,
    epochs: int,
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    model_kwargs: dict[str, Any] | None = None,
    batch_size: int = 32,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    augment: str = "flip",
    val_size: int = 5000,
    num_threads: int = 2,
    progress: bool = True,
    command: str | None = None,
    init: str | os.PathLike | None = None,
) -> ViTTrainingResult:
    """Train a timm `VisionTransformer` from scratch on Fashion-MNIST and save it to `out_dir`.

    `val_size` training images (`fashion_mnist_splits`: a fixed draw, independent of `seed`) are held out for
    validation, scored after every epoch; the weights of the best epoch are kept and scored on the test set.
    The optimiser is AdamW with a one-cycle schedule (10% warm-up, cosine decay), the loss cross-entropy with
    label smoothing; augmentation (`AUGMENTATIONS`) flips images left-right, and can also crop them at random.
    With `init`, training goes on from a saved backbone (a warm restart: a new one-cycle schedule), keeping its
    architecture and pixel normalisation; `backbone.json` then records the chain of runs under `init`.

    Args:
        out_dir: directory to write `backbone.safetensors` and `backbone.json` into (created if needed).
        epochs: number of passes over the training images.
        limit: use at most this many images of each split (train, validation, test), for quick runs.
        seed: seed of the initial weights, the batch order and the augmentation.
        data_dir: folder of the Fashion-MNIST IDX files (default: see `load_fashion_mnist`).
        model_kwargs: `VisionTransformer` kwargs that replace those of `DEFAULT_MODEL_KWARGS`.
        batch_size: images per step.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        label_smoothing: label smoothing of the cross-entropy.
        augment: `"none"`, `"flip"` (a random horizontal flip) or `"crop-flip"` (also a random 28 x 28 crop
            of the image padded by 2 pixels).
        val_size: number of training images held out for validation.
        num_threads: torch CPU threads during training (restored afterwards).
        progress: whether to show progress bars.
        command: the command that started the run, recorded in `backbone.json`.
        init: a backbone directory to start from instead of random weights.

    Returns:
        The trained model, its config (as saved) and the output directory.

    Raises:
        ValueError: bad arguments (non-positive epochs, limit or batch size; a validation set that leaves
            no training images; `model_kwargs` that differ from those of `init`).
    """
    if epochs < 1 or batch_size < 1 or num_threads < 1:
        raise ValueError(
            f"epochs, batch_size and num_threads must be >= 1, got {epochs}, {batch_size}, {num_threads}."
        )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}.")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}.")
    init_config = read_vit_config(init) if init is not None else None
    base_kwargs = init_config["model_kwargs"] if init_config else DEFAULT_MODEL_KWARGS
    kwargs = {**base_kwargs, **(model_kwargs or {})}
    if init_config and kwargs != init_config["model_kwargs"]:
        changed = sorted(k for k in kwargs if kwargs[k] != init_config["model_kwargs"].get(k))
        raise ValueError(f"model_kwargs {changed} differ from those of the init backbone {init}.")
    parts = fashion_mnist_splits(val_size, data_dir)  # uint8 [N, 28, 28] and int64 [N] for each split
    if val_size < 1 or len(parts[0][1]) == 0:
        n_images = len(parts[0][1]) + len(parts[1][1])
        raise ValueError(
            f"val_size must be between 1 and {n_images - 1} (the training images), got {val_size}."
        )
    splits = {name: (x[:limit], y[:limit]) for name, (x, y) in zip(("train", "val", "test"), parts)}
    if init_config:
        mean, std = init_config["data_config"]["mean"][0], init_config["data_config"]["std"][0]
    else:
        mean, std = _pixel_stats(splits["train"][0])
    # Imported here, not at the top: the `creditlens` command imports this module at start-up.
    from timm.models.vision_transformer import VisionTransformer

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        torch.manual_seed(seed)
        model = load_vit_backbone(init) if init is not None else VisionTransformer(**kwargs)
        history, best_state, seconds = _fit(
            model,
            splits,
            mean,
            std,
            epochs,
            batch_size,
            lr,
            weight_decay,
            label_smoothing,
            augment,
            seed,
            progress,
        )
        model.load_state_dict(best_state)
        test_accuracy = evaluate_accuracy(model, *splits["test"], mean=mean, std=std, batch_size=512)
    finally:
        torch.set_num_threads(previous_threads)
    best = max(history, key=lambda h: h["val_accuracy"])
    config = {
        "format": CONFIG_FORMAT,
        "architecture": "timm.models.vision_transformer.VisionTransformer",
        "model_kwargs": kwargs,
        "data_config": _data_config(kwargs, mean, std),
        "classes": list(FASHION_MNIST_CLASSES),
        "dataset": "Fashion-MNIST (Debian package dataset-fashion-mnist)",
        "metrics": {
            "test_accuracy": test_accuracy,
            "val_accuracy": best["val_accuracy"],
            "best_epoch": best["epoch"],
            "n_train": len(splits["train"][1]),
            "n_val": len(splits["val"][1]),
            "n_test": len(splits["test"][1]),
            "n_params": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(seconds, 1),
            "history": history,
        },
        "seed": seed,
        "training": {
            "epochs": epochs,
            "limit": limit,
            "batch_size": batch_size,
            "optimizer": "AdamW",
            "lr": lr,
            "schedule": "one-cycle (10% warm-up, cosine)",
            "weight_decay": weight_decay,
            "label_smoothing": label_smoothing,
            "augment": augment,
            "val_split_seed": FASHION_MNIST_VAL_SEED,
            "num_threads": num_threads,
            "torch": torch.__version__,
            "timm": _timm_version(),
        },
        "command": command,
    }
    if init_config:
        config["init"] = {k: init_config.get(k) for k in ("command", "seed", "training", "metrics", "init")}
    directory = save_vit_backbone(model, out_dir, config)
    return ViTTrainingResult(model.eval(), config, directory)


def _fit(
    model: nn.Module,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    mean: float,
    std: float,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    label_smoothing: float,
    augment: str,
    seed: int,
    progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor], float]:
    """The training loop: returns the per-epoch history, the best state and the training seconds."""
    images, labels = splits["train"]
    steps_per_epoch = math.ceil(len(images) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1, cycle_momentum=False
    )
    generator = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] = {}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total_loss = 0.0
        bar = tqdm(
            range(steps_per_epoch), desc=f"epoch {epoch}/{epochs}", disable=not progress, mininterval=5
        )
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            batch = _augment(images[idx], augment, generator)  # [B, 28, 28]
            logits = model(normalise_pixels(batch, mean, std))  # [B, n_classes]
            loss = F.cross_entropy(logits, labels[idx], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step_loss = float(loss.detach())
            total_loss += step_loss * len(idx)
            bar.set_postfix(loss=f"{step_loss:.3f}", refresh=False)
        val_accuracy = evaluate_accuracy(model, *splits["val"], mean=mean, std=std)
        record = {
            "epoch": epoch,
            "train_loss": round(total_loss / len(images), 5),
            "val_accuracy": val_accuracy,
            "seconds": round(time.perf_counter() - start, 1),
        }
        history.append(record)
        if not best_state or val_accuracy > max(h["val_accuracy"] for h in history[:-1]):
            best_state = copy.deepcopy(model.state_dict())
        if progress:
            tqdm.write(
                f"epoch {epoch}: train loss {record['train_loss']:.4f}, val accuracy {val_accuracy:.4f}, "
                f"{record['seconds']:.0f} s"
            )
    return history, best_state, time.perf_counter() - start


def _augment(images: torch.Tensor, augment: str, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random crops of the zero-padded images and random horizontal flips: `uint8 [B, H, W]` in and out."""
    if augment == "none":
        return images
    n, height, width = images.shape
    if augment == "crop-flip":
        padded = F.pad(images, (pad, pad, pad, pad))  # [B, H + 2 pad, W + 2 pad]
        dy = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=generator)
        rows = dy + torch.arange(height).view(1, -1, 1)  # [B, H, 1]
        cols = dx + torch.arange(width).view(1, 1, -1)  # [B, 1, W]
        images = padded[torch.arange(n).view(-1, 1, 1), rows, cols]  # [B, H, W]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1), images.flip(-1), images)


def _pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels of `uint8` images in [0, 1], rounded to 4 decimals."""
    pixels = images.double() / 255.0
    return round(float(pixels.mean()), 4), round(float(pixels.std()), 4)


def _data_config(kwargs: dict[str, Any], mean: float, std: float) -> dict[str, Any]:
    """The preprocessing as a timm data config (for `timm.data.create_transform`)."""
    size = kwargs["img_size"]
    height, width = (size, size) if isinstance(size, int) else size
    return {
        "input_size": [kwargs["in_chans"], height, width],
        "interpolation": "bilinear",
        "mean": [mean] * kwargs["in_chans"],
        "std": [std] * kwargs["in_chans"],
        "crop_pct": 1.0,
        "crop_mode": "center",
    }


def _timm_version() -> str:
    import timm

    return timm.__version__
