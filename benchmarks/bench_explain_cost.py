"""What explaining costs over predicting: a plain forward pass of a ViT classifier vs `Classifier.explain`.

Both run the same frozen timm ViT (random weights: speed does not depend on them) and the same routing head
over the hidden states of all depths, under `torch.no_grad()`. `explain` also chains the head's three credit
matrices (Heinsen 2022, Appendix A) for every class at every depth and builds the explanation object. The
figure is the ratio of the medians of several timed runs, measured in the same process.

Usage:
    python benchmarks/bench_explain_cost.py [--model vit_small_patch16_224] [--batch 8] [--classes 1000]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from creditlens.attribution import Classifier, VisionBackbone


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_small_patch16_224", help="timm ViT-family model name")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.manual_seed(0)
    backbone = VisionBackbone(args.model)
    classifier = Classifier(backbone, labels=[f"class_{i}" for i in range(args.classes)])
    pixels = torch.randn(args.batch, 3, *backbone.data_config["input_size"][1:])

    def predict() -> torch.Tensor:
        with torch.no_grad():
            return classifier(pixels)

    def explain() -> object:
        return classifier.explain(pixels)

    plain = _median_seconds(predict, args.repeats)
    explained = _median_seconds(explain, args.repeats)
    shape = tuple(explain().credit.shape)
    print(f"{args.model}, batch {args.batch}, {args.classes} classes, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} runs")  # fmt: skip
    print(f"plain forward (scores only):       {plain * 1000:8.1f} ms")
    print(f"explain (all classes, all depths): {explained * 1000:8.1f} ms   credit {list(shape)}")
    print(f"ratio explain / forward: {explained / plain:.2f}x")


if __name__ == "__main__":
    main()
