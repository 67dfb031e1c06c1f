"""`creditlens evaluate`: faithfulness of routing credit and baselines on a bundled model, in one command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from creditlens.attribution.datasets import load_fashion_mnist, rotten_tomatoes_splits
from creditlens.attribution.evaluation import METHODS, evaluate
from creditlens.attribution.evaluation.report import protocol_text, to_markdown, write_report
from creditlens.attribution.zoo import BUNDLED_DIR, MODEL_FILE, load_model
from creditlens.viz.evaluation_figures import evaluation_curves
from creditlens.viz.export import figure_bytes

from .cli import add_command

DATA = {
    "fashion-mnist-vit": "the Fashion-MNIST test images, in file order",
    "rotten-tomatoes-minilm": "the held-out test snippets of the fixed Rotten Tomatoes split, in split order",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    p = add_command(sub, "evaluate")
    p.add_argument("--model", required=True, help=f"a bundled model: {', '.join(DATA)}")
    p.add_argument("--limit", type=int, default=200, help="number of test samples (default 200)")
    p.add_argument(
        "--methods", nargs="+", metavar="METHOD", help=f"default: all that apply; from {', '.join(METHODS)}"
    )
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--sanity-samples", type=int, default=50, help="samples of the randomisation check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--out", type=Path, help="folder for results.md/.csv/.json and curves.png/.pdf")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    if args.model not in DATA or not (BUNDLED_DIR / args.model / MODEL_FILE).is_file():
        raise ValueError(
            f"evaluate runs on the bundled models with their test data: {', '.join(DATA)}; got {args.model!r}."
        )
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if model.info.task == "image":
        images, labels = load_fashion_mnist("test")
        inputs, targets = images[: args.limit], labels[: args.limit]
    else:
        pairs = rotten_tomatoes_splits()["test"][: args.limit]
        inputs, targets = [text for text, _ in pairs], torch.tensor([label for _, label in pairs])
    result = evaluate(
        model.classifier,
        inputs,
        targets,
        model_name=args.model,
        methods=args.methods,
        batch_size=args.batch_size,
        sanity_samples=args.sanity_samples,
        seed=args.seed,
    )
    result.protocol["data"] = DATA[args.model]
    result.protocol["command"] = args.command_line
    if args.out:
        written = write_report(result, args.out)
        figure = evaluation_curves(result)
        for fmt in ("png", "pdf"):
            path = args.out / f"curves.{fmt}"
            path.write_bytes(figure_bytes(figure, fmt))
            written.append(path)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(protocol_text(result))
        print(to_markdown(result))
    return 0
