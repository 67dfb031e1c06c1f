"""What explaining costs: routing credit for every class at every depth vs a plain forward pass and the
usual explainers, on one ViT classifier, as ratios from one run.

All methods run on the same frozen timm ViT (random weights: speed does not depend on them) with the same
routing head over the hidden states of all depths, on the same batch:

- plain forward: class scores only, under `torch.no_grad()`;
- routing credit: `Classifier.explain`, the chained credit of every class at every depth (one forward pass);
- attention rollout (Abnar and Zuidema 2020): one forward pass capturing attention, one map for all classes;
- Grad-CAM (the grad-cam package) on the last block: one forward and one backward pass, one class;
- Integrated Gradients (Captum, 50 steps) on the input embedding: one class.

The baselines are those of `creditlens evaluate` (`creditlens.attribution.evaluation.METHODS`); the
gradient ones explain each sample's predicted class. Each figure is the median of several timed runs after
a warm-up; Integrated Gradients, 50x the work, runs fewer times (`--ig-repeats`).

Usage:
    python benchmarks/bench_explain.py [--model vit_small_patch16_224] [--batch 8] [--classes 1000]
        [--repeats 5] [--ig-repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from bench_routing import median_seconds  # the scripts' shared timer (both run from benchmarks/)

from creditlens.attribution import Classifier, VisionBackbone
from creditlens.attribution.evaluation import METHODS, ImageProbe
from creditlens.attribution.evaluation.probes import Batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_small_patch16_224", help="timm ViT-family model name")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ig-repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backbone = VisionBackbone(args.model)
    classifier = Classifier(backbone, labels=[f"class_{i}" for i in range(args.classes)])
    pixels = torch.randn(args.batch, 3, *backbone.data_config["input_size"][1:])
    probe = ImageProbe(classifier)
    units = ~backbone.positions.hidden.expand(args.batch, -1)
    batch = Batch(pixels, units, None, torch.zeros(args.batch, dtype=torch.long), {})
    with torch.no_grad():
        classes = classifier(pixels).argmax(-1)
    generator = torch.Generator().manual_seed(0)

    def predict() -> torch.Tensor:
        with torch.no_grad():
            return classifier(pixels)

    def method(name: str) -> Callable[[], torch.Tensor]:
        return lambda: METHODS[name].fn(probe, batch, classes, generator)

    runs = [
        ("plain forward (scores only)", predict, args.repeats),
        ("routing credit (all classes, all depths)", lambda: classifier.explain(pixels), args.repeats),
        ("attention rollout", method("rollout"), args.repeats),
        ("Grad-CAM, last block (1 class)", method("gradcam"), args.repeats),
        ("Integrated Gradients, 50 steps (1 class)", method("integrated_gradients"), args.ig_repeats),
    ]
    seconds = {}
    for name, run, repeats in runs:
        run()  # warm-up: first-call allocations and kernel selection
        seconds[name] = median_seconds(run, repeats)
    plain = seconds["plain forward (scores only)"]
    routing = seconds["routing credit (all classes, all depths)"]
    print(f"{args.model}, batch {args.batch}, {args.classes} classes, {torch.get_num_threads()} threads; "
          f"medians of {args.repeats} runs ({args.ig_repeats} for Integrated Gradients)")  # fmt: skip
    print("| method | ms per batch | x plain forward | x routing credit |\n|---|---:|---:|---:|")
    for name, value in seconds.items():
        print(f"| {name} | {value * 1000:.0f} | {value / plain:.2f} | {value / routing:.2f} |")


if __name__ == "__main__":
    main()
