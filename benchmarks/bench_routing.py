"""creditlens routing versus the reference implementation, measured side by side in one run.

The reference is the public repository glassroom/heinsen_routing, given by path (its code is imported from
there at run time and never enters this project). For every configuration the script builds both
implementations with the same parameters and inputs, checks that they agree (float32, relative 1e-5), times
the forward pass (no gradients) and forward+backward (gradients for the parameters), alternating between the
two implementations, and measures peak resident memory of forward+backward in a fresh subprocess per
configuration and implementation. It prints medians and creditlens/reference ratios.

Usage:
    python benchmarks/bench_routing.py --reference PATH/TO/heinsen_routing [--configs head,long,toy]
        [--repeats 5] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from creditlens.routing import EfficientVectorRouting


@dataclass(frozen=True)
class Config:
    """One benchmark shape: inputs `[*batch, n, d_inp]` through a stack of routings."""

    description: str
    batch: tuple[int, ...]
    n: int
    layers: tuple[tuple[int, int, int, int], ...]  # (n_inp, n_out, d_inp, d_out) of each routing


CONFIGS = {
    "head": Config(
        "paper head over BEiT-large states: batch 8 x 4,925 x 1024 -> 64 x 1024 -> 64 x 1024 -> 1000 x 1",
        (8,), 197 * 25, ((-1, 64, 1024, 1024), (64, 64, 1024, 1024), (64, 1000, 1024, 1)),
    ),
    "long": Config("long sequence: 250,000 x 1024 -> 100 x 1024 (n_inp=-1)", (), 250_000, ((-1, 100, 1024, 1024),)),
    "toy": Config("README toy layer: 10,000 x 1024 -> 1,000 x 2,048", (), 10_000, ((10_000, 1000, 1024, 2048),)),
    "million": Config("1,000,000 x 1024 -> 100 x 1024 (n_inp=-1)", (), 1_000_000, ((-1, 100, 1024, 1024),)),
}  # fmt: skip


def build(impl: str, config: Config, reference: str) -> nn.Sequential:
    """The routing stack of one implementation, with parameters shared through a fixed seed and state dict."""
    sys.path.insert(0, reference)
    from heinsen_routing import EfficientVectorRouting as ReferenceRouting

    torch.manual_seed(0)
    ref = nn.Sequential(*[ReferenceRouting(*layer) for layer in config.layers])
    if impl == "reference":
        return ref
    ours = nn.Sequential(*[EfficientVectorRouting(*layer) for layer in config.layers])
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours


def inputs(config: Config) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(*config.batch, config.n, config.layers[0][2], generator=generator)


def forward_backward(model: nn.Module, x_inp: torch.Tensor) -> None:
    model(x_inp).square().mean().backward()
    model.zero_grad(set_to_none=True)


def measure_peak_memory(impl: str, name: str, reference: str) -> float:
    """Peak resident memory (GiB) of one forward+backward, in this (fresh) process."""
    config = CONFIGS[name]
    model, x_inp = build(impl, config, reference), inputs(config)
    forward_backward(model, x_inp)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def peak_memory_in_subprocess(impl: str, name: str, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--reference", args.reference, "--threads", str(args.threads),
           "--measure-memory", impl, name]  # fmt: skip
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(name: str, args: argparse.Namespace) -> dict:
    """Agreement, times and peak memory of both implementations on one configuration."""
    config = CONFIGS[name]
    models = {impl: build(impl, config, args.reference) for impl in ("creditlens", "reference")}
    x_inp = inputs(config)
    with torch.no_grad():
        out = {impl: m(x_inp) for impl, m in models.items()}
    rel_err = float((out["creditlens"] - out["reference"]).abs().max() / out["reference"].abs().max())
    del out
    result = {"config": name, "description": config.description, "max_rel_err": rel_err}
    timings = {impl: {"forward": [], "forward_backward": []} for impl in models}
    for _ in range(args.repeats):  # alternate so both see the same machine state
        for impl, model in models.items():
            with torch.no_grad():
                timings[impl]["forward"].append(median_seconds(lambda m=model: m(x_inp), 1))
            timings[impl]["forward_backward"].append(
                median_seconds(lambda m=model: forward_backward(m, x_inp), 1)
            )
    for impl in models:
        for kind, values in timings[impl].items():
            result[f"{impl}_{kind}_s"] = statistics.median(values)
    del models
    for impl in ("creditlens", "reference"):
        result[f"{impl}_peak_gib"] = peak_memory_in_subprocess(impl, name, args)
    for kind in ("forward_s", "forward_backward_s", "peak_gib"):
        result[f"ratio_{kind}"] = result[f"creditlens_{kind}"] / result[f"reference_{kind}"]
    return result


def print_table(results: list[dict]) -> None:
    print()
    print("| configuration | forward: creditlens / reference | fwd+bwd: creditlens / reference "
          "| peak memory (GiB): creditlens / reference | max rel. diff |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in results:
        cells = []
        for kind, unit in (("forward_s", "s"), ("forward_backward_s", "s"), ("peak_gib", "")):
            cells.append(f"{r[f'creditlens_{kind}']:.2f}{unit} / {r[f'reference_{kind}']:.2f}{unit} "
                         f"(**{r[f'ratio_{kind}']:.2f}x**)")  # fmt: skip
        print(f"| {r['description']} | " + " | ".join(cells) + f" | {r['max_rel_err']:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="path to a checkout of glassroom/heinsen_routing")
    parser.add_argument("--configs", default="head,long,toy", help=f"comma-separated, from {list(CONFIGS)}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--measure-memory", nargs=2, metavar=("IMPL", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.measure_memory:
        print(measure_peak_memory(*args.measure_memory, args.reference))
        return
    results = []
    for name in args.configs.split(","):
        if name not in CONFIGS:
            parser.error(f"unknown configuration {name!r}; choose from {list(CONFIGS)}")
        print(f"running {name}: {CONFIGS[name].description}", file=sys.stderr, flush=True)
        results.append(compare(name, args))
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
