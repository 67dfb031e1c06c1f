"""The saved form of a small timm ViT backbone (such as the bundled `fashion-mnist-vit`): save, load, score.

The paper's vision heads (Heinsen 2022, Section 4) route the hidden states of every depth of a pretrained ViT;
creditlens ships its own small one, trained by `creditlens.attribution.training.vit`. A backbone is a
directory with `backbone.safetensors` (the timm model's state) and `backbone.json` (the timm constructor
kwargs, the preprocessing as a timm data config, the class names, the metrics, the seed and the command that
made it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from .state_dicts import check_state

WEIGHTS_FILE = "backbone.safetensors"
CONFIG_FILE = "backbone.json"
CONFIG_FORMAT = "creditlens-vit-backbone/1"


def evaluate_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    mean: float,
    std: float,
    batch_size: int = 512,
) -> float:
    """Top-1 accuracy of a classifier on `uint8` images normalised with `normalise_pixels`.

    Args:
        model: maps pixels `[B, 1, H, W]` to logits `[B, n_classes]`.
        images: `uint8 [N, H, W]`.
        labels: `int64 [N]`.
        mean, std: the pixel normalisation (of `backbone.json`'s `data_config`).
        batch_size: images per forward pass.

    Returns:
        The fraction of images whose top logit is their label (0 for no images).
    """
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = model(normalise_pixels(images[start : start + batch_size], mean, std))  # [B, n_classes]
            correct += int((logits.argmax(-1) == labels[start : start + batch_size]).sum())
    return correct / max(len(images), 1)


def save_vit_backbone(model: nn.Module, directory: str | os.PathLike, config: dict[str, Any]) -> Path:
    """Write a backbone directory: the model's state and its config.

    Args:
        model: the timm `VisionTransformer`.
        directory: where to write `backbone.safetensors` and `backbone.json` (created if needed).
        config: JSON-serialisable; `load_vit_backbone` needs its `model_kwargs` and `data_config`.

    Returns:
        The directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": CONFIG_FORMAT})
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def read_vit_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The contents of `directory/backbone.json`, checked for the keys that `load_vit_backbone` needs.

    Args:
        directory: a backbone directory.

    Returns:
        The config: `model_kwargs`, `data_config` (a timm data config), `classes`, `metrics`, `command`, ...

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not JSON, or it lacks `model_kwargs` or `data_config`.
    """
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"backbone config {path} not found (a backbone directory holds {CONFIG_FILE} and {WEIGHTS_FILE})."
        )
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from e
    missing = [k for k in ("model_kwargs", "data_config") if not isinstance(config.get(k), dict)]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}.")
    return config


def load_vit_backbone(
    directory: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Rebuild a ViT saved by `train_vit_backbone` and load its weights strictly.

    The model's `pretrained_cfg` is set to the saved preprocessing, so `timm.data.resolve_data_config` and
    `VisionBackbone` pick up the right normalisation (one channel, the training pixels' mean and std).

    Args:
        directory: folder with `backbone.json` and `backbone.safetensors`.
        device, dtype: where and in what precision to put the model.

    Returns:
        The timm `VisionTransformer` in eval mode; it maps pixels `[B, 1, 28, 28]` to logits `[B, 10]`.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a corrupt file, constructor kwargs timm rejects, or weights whose keys or shapes do not
            match the model (the message names the first such key).
    """
    config = read_vit_config(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"backbone weights {weights} not found.")
    try:
        state = safetensors.torch.load_file(str(weights))
    except (safetensors.SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{weights} is not a readable safetensors file ({e}).") from e
    # Imported here, not at the top: the `creditlens` command imports this module at start-up.
    from timm.models.vision_transformer import VisionTransformer

    try:
        model = VisionTransformer(**config["model_kwargs"])
    except (TypeError, ValueError, AssertionError) as e:
        raise ValueError(f"{Path(directory) / CONFIG_FILE}: model_kwargs rejected by timm ({e}).") from e
    check_state(model.state_dict(), state, weights, "ViT")
    model.load_state_dict(state, strict=True)
    data_config = {k: tuple(v) if isinstance(v, list) else v for k, v in config["data_config"].items()}
    model.pretrained_cfg = {**data_config, "num_classes": config["model_kwargs"].get("num_classes")}
    return model.to(device=device, dtype=dtype).eval()


def normalise_pixels(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Normalised one-channel float pixels, as timm's `ToTensor` and `Normalize` make them.

    Args:
        images: `uint8 [B, H, W]`.
        mean, std: of the pixels scaled to [0, 1].

    Returns:
        `float32 [B, 1, H, W]`: `(images / 255 - mean) / std`.
    """
    return ((images.float() / 255.0 - mean) / std).unsqueeze(1)
