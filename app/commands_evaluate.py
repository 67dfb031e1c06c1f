"""`creditlens evaluate`: faithfulness of routing credit and baselines on a bundled model, in one command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli import add_command, add_paper_dir, add_threads, set_threads

if TYPE_CHECKING:
    import torch

# torch, the model and the data are imported and read inside `run_evaluate`, after its first line on stderr:
# they take seconds, and a command that prints nothing for that long looks hung.

DATA = {
    "fashion-mnist-vit": "the Fashion-MNIST test images, in file order",
    "rotten-tomatoes-minilm": "the held-out test snippets of the fixed Rotten Tomatoes split, in split order",
}
# The keys of `creditlens.attribution.evaluation.METHODS` (a test keeps them equal), named here so that
# parsing the arguments needs no torch.
METHOD_NAMES = (
    "routing", "routing_rollout", "contribution", "contribution_rollout", "contribution_lrp", "random",
    "rollout", "raw_attention", "grad_rollout", "input_x_gradient", "integrated_gradients", "gradcam", "edges",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    p = add_command(sub, "evaluate")
    p.add_argument(
        "--model", required=True, help=f"a zoo model (with --data), or a bundled one: {', '.join(DATA)}"
    )
    p.add_argument(
        "--data", type=Path, help="your labelled data: an image folder (one subfolder per class) or a CSV "
        "text,label (default: the bundled model's test data)"
    )  # fmt: skip
    p.add_argument("--limit", type=int, default=200, help="number of samples (default 200)")
    p.add_argument(
        "--methods",
        metavar="M1,M2",
        help=f"comma-separated; default: all that apply; from {','.join(METHOD_NAMES)}",
    )
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--sanity-samples", type=int, default=50, help="samples of the randomisation check")
    p.add_argument("--seed", type=int, default=0)
    add_threads(p)
    add_paper_dir(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--out", type=Path, help="folder for results.md/.csv/.json and curves.png/.pdf")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Check the arguments, say at once what is being loaded, then evaluate with a progress bar."""
    if args.data is None and args.model not in DATA:
        raise ValueError(
            f"without --data, evaluate runs on the bundled models with their test data: {', '.join(DATA)}; "
            f"got {args.model!r}."
        )
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}.")
    methods = None
    if args.methods is not None:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in METHOD_NAMES]
        if not methods or unknown:
            raise ValueError(
                f"unknown method {(unknown or [''])[0]!r}; valid methods: {','.join(METHOD_NAMES)}."
            )
    data = args.data if args.data is not None else DATA[args.model]
    print(
        f"creditlens evaluate: loading {args.model} and the first {args.limit} samples of {data} ...",
        file=sys.stderr,
        flush=True,
    )
    set_threads(args.threads)
    from creditlens.attribution.evaluation import evaluate
    from creditlens.attribution.evaluation.report import protocol_text, to_markdown, write_report
    from creditlens.attribution.zoo import load_model
    from creditlens.viz.evaluation_figures import evaluation_curves
    from creditlens.viz.export import figure_bytes

    model = load_model(args.model, paper_dir=args.paper_dir)
    inputs, targets, described = _data(args, model)
    result = evaluate(
        model.classifier,
        inputs,
        targets,
        model_name=args.model,
        methods=methods,
        batch_size=args.batch_size,
        sanity_samples=args.sanity_samples,
        seed=args.seed,
    )
    result.protocol["data"] = described
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


def _data(args: argparse.Namespace, model: Any) -> tuple[Any, torch.Tensor, str]:
    """The first `--limit` inputs and labels to evaluate on, and what they are."""
    import torch

    from creditlens.attribution.data.datasets import load_fashion_mnist, rotten_tomatoes_splits
    from creditlens.attribution.data.userdata import load_image_folder, load_text_csv

    if args.data is not None:
        labels = model.classifier.labels
        task = model.info.task
        data = load_image_folder(args.data, labels) if task == "image" else load_text_csv(args.data, labels)
        inputs = list(data.inputs[: args.limit])
        return inputs, torch.as_tensor(data.labels[: args.limit]), f"{args.data}, in file order"
    if model.info.task == "image":
        images, labels = load_fashion_mnist("test")
        return images[: args.limit], labels[: args.limit], DATA[args.model]
    pairs = rotten_tomatoes_splits()["test"][: args.limit]
    return [text for text, _ in pairs], torch.tensor([label for _, label in pairs]), DATA[args.model]
