"""`creditlens models` and `creditlens accuracy`: the model zoo, and a model's accuracy on a user's data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from creditlens.attribution.data.userdata import load_image_folder, load_text_csv
from creditlens.attribution.zoo import list_models, load_model

from .cli import add_command, add_paper_dir, add_threads, set_threads


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands of this module."""
    p = add_command(sub, "models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_paper_dir(p)
    p.set_defaults(run=run_models)

    p = add_command(sub, "accuracy")
    p.add_argument("--model", required=True, help="a zoo model name (see `creditlens models`)")
    p.add_argument(
        "--data", required=True, type=Path, help="image folder (one subfolder per class) or CSV text,label"
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--json", action="store_true", help='print {"model": ..., "n": ..., "accuracy": ...}')
    add_threads(p)
    add_paper_dir(p)
    p.set_defaults(run=run_accuracy)


def run_models(args: argparse.Namespace) -> int:
    infos = list_models(paper_dir=args.paper_dir)
    if args.json:
        rows = [
            {"name": i.name, "task": i.task, "source": i.source, "status": i.status, "detail": i.detail,
             "labels": list(i.labels), "metrics": i.metrics}
            for i in infos
        ]  # fmt: skip
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(i.name) for i in infos)
    for i in infos:
        labels = ", ".join(label.split(",")[0] for label in i.labels[:4]) + (
            f", ... ({len(i.labels)})" if len(i.labels) > 4 else ""
        )
        print(f"{i.name:<{width}}  {i.task:<5}  {i.status:<7}  {labels}")
        print(f"{'':<{width}}  {i.detail}")
    return 0


def run_accuracy(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    model = load_model(args.model, paper_dir=args.paper_dir)
    labels = model.classifier.labels
    data = (
        load_image_folder(args.data, labels)
        if model.info.task == "image"
        else load_text_csv(args.data, labels)
    )
    correct = 0
    with torch.no_grad():
        for start in tqdm(range(0, len(data.labels), args.batch_size), desc="accuracy", unit="batch"):
            inputs = list(data.inputs[start : start + args.batch_size])
            predicted = model.classifier(inputs).argmax(-1).numpy()
            correct += int((predicted == data.labels[start : start + args.batch_size]).sum())
    result = {"model": args.model, "n": len(data.labels), "accuracy": correct / len(data.labels)}
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.model}: {result['accuracy']:.4f} top-1 accuracy on {result['n']} samples from {args.data}"
        )
    return 0
