"""What explaining costs on a bundled model: every explanation method against a plain forward pass and the
usual explainers, as ratios from one run.

All methods run on the same classifier and the same batch of its test inputs (images already preprocessed,
so no method pays for decoding; texts tokenized by each call, as a user's call does):

- plain forward: class scores only, under `torch.no_grad()`;
- `Classifier.explain` with each method: `paper`, `contribution` and `contribution_rollout` for every class
  at every depth; `contribution_lrp` for each sample's top class, every depth (one batched backward pass with
  a gradient source per depth and class);
- the one-backward `contribution_lrp` map of `creditlens evaluate` (each sample's predicted class, summed over
  depths), and its baselines: attention rollout, gradient-weighted rollout (Chefer et al. 2021) and
  Integrated Gradients (Captum, 50 steps; fewer runs, `--ig-repeats`).

Each figure is the median of several timed runs after a warm-up.

Usage:
    python benchmarks/bench_explain.py [--model fashion-mnist-vit] [--batch 8] [--repeats 7]
        [--ig-repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from bench_routing import median_seconds  # the scripts' shared timer (both run from benchmarks/)

from creditlens.attribution.data.datasets import load_fashion_mnist, rotten_tomatoes_splits
from creditlens.attribution.evaluation import METHODS, make_probe
from creditlens.attribution.zoo import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="fashion-mnist-vit", help="fashion-mnist-vit or rotten-tomatoes-minilm"
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ig-repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    classifier = load_model(args.model).classifier
    probe = make_probe(classifier)
    if probe.task == "image":
        images, labels = load_fashion_mnist("test")
        batch = probe.batch(images[: args.batch], labels[: args.batch])
        inputs = batch.inputs  # preprocessed pixels
    else:
        pairs = rotten_tomatoes_splits()["test"][: args.batch]
        inputs = [text for text, _ in pairs]
        batch = probe.batch(inputs, torch.tensor([label for _, label in pairs]))
    with torch.no_grad():
        classes = classifier(inputs).argmax(-1)
    generator = torch.Generator().manual_seed(0)

    def predict() -> torch.Tensor:
        with torch.no_grad():
            return classifier(inputs)

    def explain(method: str, **kwargs: int) -> Callable[[], object]:
        return lambda: classifier.explain(inputs, method=method, **kwargs)

    def evaluation_map(name: str) -> Callable[[], torch.Tensor]:
        return lambda: METHODS[name].fn(probe, batch, classes, generator)

    runs = [
        ("plain forward (scores only)", predict, args.repeats),
        ("explain: paper (all classes)", explain("paper"), args.repeats),
        ("explain: contribution (all classes)", explain("contribution"), args.repeats),
        ("explain: contribution_rollout (all classes)", explain("contribution_rollout"), args.repeats),
        (
            "explain: contribution_lrp (top class, per depth)",
            explain("contribution_lrp", top_k=1),
            args.repeats,
        ),
        ("map: contribution_lrp (1 class, one backward)", evaluation_map("contribution_lrp"), args.repeats),
        ("map: attention rollout", evaluation_map("rollout"), args.repeats),
        ("map: gradient-weighted rollout (1 class)", evaluation_map("grad_rollout"), args.repeats),
        (
            "map: Integrated Gradients, 50 steps (1 class)",
            evaluation_map("integrated_gradients"),
            args.ig_repeats,
        ),
    ]
    seconds = {}
    for name, run, repeats in runs:
        run()  # warm-up: first-call allocations and kernel selection
        seconds[name] = median_seconds(run, repeats)
    plain = seconds["plain forward (scores only)"]
    print(f"{args.model}, batch {args.batch}, {len(classifier.labels)} classes, {torch.get_num_threads()} "
          f"threads; medians of {args.repeats} runs ({args.ig_repeats} for Integrated Gradients)")  # fmt: skip
    print("| method | ms per batch | x plain forward |\n|---|---:|---:|")
    for name, value in seconds.items():
        print(f"| {name} | {value * 1000:.1f} | {value / plain:.2f} |")


if __name__ == "__main__":
    main()
