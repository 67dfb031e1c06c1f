"""creditlens routing versus the reference implementation, measured side by side in one run.

The reference is the public repository glassroom/heinsen_routing, given by path (its code is imported from
there at run time and never enters this project). Three modes:

- default: for every configuration, build both implementations with the same parameters and inputs, check that
  they agree (float32), time the forward pass (no gradients) and forward+backward (gradients for the
  parameters), alternating between the two implementations, and measure peak resident memory of
  forward+backward in fresh subprocesses (the median of `--memory-repeats` per configuration and
  implementation). Prints medians and creditlens/reference ratios.
- `--bf16`: creditlens on one configuration (default `head`, the paper's head) in float32 and in bfloat16
  autocast (`torch.autocast("cpu", dtype=torch.bfloat16)`, opt-in): forward, forward+backward and credit
  (`route()` of every layer, then `creditlens.attribution.recipes.sequential`) times and speedups, and the
  Spearman rank correlation between bfloat16's and float32's end-to-end credit of each sample and class, and
  where forward+backward's time goes in each precision (torch.profiler: matrix products, casts, the rest),
  and how far the fast paths' float32 outputs and gradients are from Algorithm 1 as written
  (`creditlens.routing.fast_paths(False)`). The first calls, which compile bfloat16's fused kernels, are
  timed apart. Set `THP_MEM_ALLOC_ENABLE=1` in
  the environment to have torch back large tensors with 2 MiB pages (the report says which was used).
- `--reuse-ab`: creditlens's bfloat16 forward+backward with and without handing the memory of the input's
  bfloat16 copy from one call to the next (`routing/fast/_spare.py`), in `--repeats` alternating pairs.
- `--scaling`: how forward+backward time and peak memory grow with n_inp, n_out and d around a base single
  routing (`--scaling-base batch,n_inp,n_out,d`, `n_inp=-1` layer, d_inp = d_out = d), scaled by each of
  `--scaling-factors` one parameter at a time, both implementations; a Markdown table.

`--chunk-elements N` sets creditlens's chunk size (`creditlens.routing.set_chunk_elements`), and
`--fast-paths off` times Algorithm 1 as written (`creditlens.routing.set_fast_paths(False)`) in every mode.

Usage:
    python benchmarks/bench_routing.py --reference PATH/TO/heinsen_routing [--configs head,long,toy]
        [--repeats 5] [--memory-repeats 3] [--threads 2] [--json out.json]
    python benchmarks/bench_routing.py --reference PATH --bf16 [--configs head]
    python benchmarks/bench_routing.py --reference PATH --scaling [--scaling-base 8,4925,64,1024]
        [--scaling-factors 0.5,2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from creditlens.routing import EfficientVectorRouting, fast_paths, set_chunk_elements, set_fast_paths


@dataclass(frozen=True)
class Config:
    """One benchmark shape: inputs `[*batch, n, d_inp]` through a stack of routings."""

    description: str
    batch: tuple[int, ...]
    n: int
    layers: tuple[tuple[int, int, int, int], ...]  # (n_inp, n_out, d_inp, d_out) of each routing

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> Config:
        fields = json.loads(text)
        layers = tuple(tuple(layer) for layer in fields["layers"])
        return Config(fields["description"], tuple(fields["batch"]), fields["n"], layers)


CONFIGS = {
    "head": Config(
        "paper head over BEiT-large states: batch 8 x 4,925 x 1024 -> 64 x 1024 -> 64 x 1024 -> 1000 x 1",
        (8,), 197 * 25, ((-1, 64, 1024, 1024), (64, 64, 1024, 1024), (64, 1000, 1024, 1)),
    ),
    "long": Config("long sequence: 250,000 x 1024 -> 100 x 1024 (n_inp=-1)", (), 250_000, ((-1, 100, 1024, 1024),)),
    "toy": Config("README toy layer: 10,000 x 1024 -> 1,000 x 2,048", (), 10_000, ((10_000, 1000, 1024, 2048),)),
    "million": Config("1,000,000 x 1024 -> 100 x 1024 (n_inp=-1)", (), 1_000_000, ((-1, 100, 1024, 1024),)),
    "tiny": Config("smoke test: batch 2 x 50 x 32 -> 8 x 32 -> 8 x 32 -> 10 x 1", (2,), 50,
                   ((-1, 8, 32, 32), (8, 8, 32, 32), (8, 10, 32, 1))),
}  # fmt: skip

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def build(impl: str, config: Config, reference: str) -> nn.Sequential:
    """The routing stack of one implementation, its parameters drawn from a fixed seed.

    Both implementations draw their parameters in the same order, so the seed alone makes them equal
    (`compare` checks this). A memory measurement builds only the implementation it measures.
    """
    if impl == "reference":
        sys.path.insert(0, reference)
        from heinsen_routing import EfficientVectorRouting as routing_class
    else:
        routing_class = EfficientVectorRouting
    torch.manual_seed(0)
    return nn.Sequential(*[routing_class(*layer) for layer in config.layers])


def inputs(config: Config) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(*config.batch, config.n, config.layers[0][2], generator=generator)


def forward_backward(model: nn.Module, x_inp: torch.Tensor) -> None:
    model(x_inp).square().mean().backward()
    model.zero_grad(set_to_none=True)


def measure_peak_memory(impl: str, config: Config, reference: str) -> float:
    """Peak resident memory (GiB) of one forward+backward, in this (fresh) process."""
    model, x_inp = build(impl, config, reference), inputs(config)
    forward_backward(model, x_inp)
    # VmHWM, the peak of this process's own address space: unlike ru_maxrss, which Linux carries across
    # exec, it does not include the peak of the process that launched this one.
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, flags=re.M).group(1)) / 2**20


def peak_memory_in_subprocess(impl: str, config: Config, args: argparse.Namespace) -> float:
    """Median over `--memory-repeats` fresh processes: the heap's layout, and with it the peak, varies from run
    to run by a few per cent."""
    cmd = [sys.executable, __file__, "--reference", args.reference, "--threads", str(args.threads),
           "--fast-paths", args.fast_paths, "--measure-memory", impl, config.to_json()]  # fmt: skip
    if args.chunk_elements is not None:
        cmd += ["--chunk-elements", str(args.chunk_elements)]
    runs = [
        subprocess.run(cmd, check=True, capture_output=True, text=True) for _ in range(args.memory_repeats)
    ]
    return statistics.median(float(run.stdout.strip()) for run in runs)


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def check_same_parameters(models: dict[str, nn.Module]) -> None:
    states = [m.state_dict() for m in models.values()]
    if states[0].keys() != states[1].keys() or not all(
        torch.equal(states[0][k], states[1][k]) for k in states[0]
    ):
        raise RuntimeError("the two implementations did not draw the same parameters from the seed")


def compare(name: str, args: argparse.Namespace) -> dict:
    """Agreement, times and peak memory of both implementations on one configuration."""
    config = CONFIGS[name]
    models = {impl: build(impl, config, args.reference) for impl in ("creditlens", "reference")}
    check_same_parameters(models)
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
        result[f"{impl}_peak_gib"] = peak_memory_in_subprocess(impl, config, args)
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


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest magnitude of b."""
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))


def fast_path_agreement(model: nn.Module, x_inp: torch.Tensor) -> float:
    """The largest relative difference between the fast paths and Algorithm 1 as written (`fast_paths(False)`)
    over the outputs and every parameter's gradient of one forward+backward, in the model's precision."""
    results = []
    for enabled in (True, False):
        with fast_paths(enabled):
            x_out = model(x_inp)
            x_out.square().mean().backward()
        results.append([x_out.detach()] + [p.grad for p in model.parameters()])
        model.zero_grad(set_to_none=True)
    return max(max_rel_diff(a, b) for a, b in zip(*results, strict=True))


def end_to_end_credit(model: nn.Sequential, x_inp: torch.Tensor) -> torch.Tensor:
    """Credit of every input for every output of the stack, `[*batch, n, n_out]` (the recipe `sequential`)."""
    from creditlens.attribution.recipes import sequential  # here, so memory measurements import routing only

    phis, x = [], x_inp
    with torch.no_grad():
        for routing in model:
            out = routing.route(x)
            phis.append(out.phi.float())
            x = out.x_out
        return sequential(phis)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of a and b `[*batch, n, k]` along n, `[*batch, k]` (ties ranked in order)."""
    rho = []
    for a_i, b_i in zip(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])):  # one sample at a time
        ranks = [x.argsort(dim=0).argsort(dim=0).to(torch.float64) for x in (a_i, b_i)]  # [nk] each
        ranks = [r - r.mean(dim=0) for r in ranks]
        rho.append((ranks[0] * ranks[1]).sum(dim=0) / (ranks[0].norm(dim=0) * ranks[1].norm(dim=0)))  # [k]
    return torch.stack(rho).view(*a.shape[:-2], a.shape[-1])


def bf16_report(name: str, args: argparse.Namespace) -> dict:
    """float32 versus bfloat16 autocast for creditlens on one configuration: times, speedups, credit ranks."""
    config = CONFIGS[name]
    model, x_inp = build("creditlens", config, args.reference), inputs(config)
    credit = {}
    for precision in ("float32", "bfloat16"):
        with torch.autocast(**BF16, enabled=precision == "bfloat16"):
            credit[precision] = end_to_end_credit(model, x_inp)
    rho = spearman(credit["bfloat16"], credit["float32"]).flatten()  # per sample and output
    del credit
    result = {"config": name, "description": config.description,
              "spearman_min": float(rho.min()), "spearman_median": float(rho.median()),
              "fast_vs_reference_max_rel_diff": fast_path_agreement(model, x_inp)}  # fmt: skip
    kinds = {
        "forward": lambda: model(x_inp),
        "forward_backward": lambda: forward_backward(model, x_inp),
        "credit": lambda: end_to_end_credit(model, x_inp),
    }

    def seconds(precision: str, kind: str) -> float:
        with torch.set_grad_enabled(kind == "forward_backward"):
            with torch.autocast(**BF16, enabled=precision == "bfloat16"):
                return median_seconds(kinds[kind], 1)

    # The first calls, kept out of the medians: bfloat16's compile the fused elementwise kernels
    # (routing/fast/_fused.py), and both precisions warm the allocator.
    for precision in ("float32", "bfloat16"):
        for kind in kinds:
            result[f"{precision}_{kind}_first_s"] = seconds(precision, kind)
    timings = {(p, kind): [] for p in ("float32", "bfloat16") for kind in kinds}
    for _ in range(args.repeats):  # alternate so both see the same machine state
        for precision in ("float32", "bfloat16"):
            for kind in kinds:
                timings[precision, kind].append(seconds(precision, kind))
    for kind in kinds:
        for precision in ("float32", "bfloat16"):
            result[f"{precision}_{kind}_s"] = statistics.median(timings[precision, kind])
        result[f"speedup_{kind}"] = result[f"float32_{kind}_s"] / result[f"bfloat16_{kind}_s"]
    for precision in ("float32", "bfloat16"):
        with torch.autocast(**BF16, enabled=precision == "bfloat16"):
            result[f"{precision}_profile_ms"], result[f"{precision}_profile_calls"] = (
                profile_forward_backward(model, x_inp)
            )
    return result


def memory_reuse_ab(name: str, args: argparse.Namespace) -> dict:
    """bfloat16 forward+backward with and without the reuse of the input copy's memory, in alternating pairs;
    each timed call follows an untimed one that leaves (or not) memory to reuse."""
    from creditlens.routing.fast import _spare  # the A/B switches its limit: 0 keeps no memory

    config = CONFIGS[name]
    model, x_inp = build("creditlens", config, args.reference), inputs(config)
    limit = _spare.MAX_SPARE_BYTES

    def seconds(reuse: bool) -> float:
        _spare.MAX_SPARE_BYTES = limit if reuse else 0
        with torch.autocast(**BF16):
            forward_backward(model, x_inp)
            return median_seconds(lambda: forward_backward(model, x_inp), 1)

    try:
        seconds(True), seconds(False)  # compile the fused kernels, warm the allocator
        times, ratios = {True: [], False: []}, []
        for k in range(args.repeats):
            pair = {reuse: seconds(reuse) for reuse in ((True, False) if k % 2 == 0 else (False, True))}
            for reuse, value in pair.items():
                times[reuse].append(value)
            ratios.append(pair[True] / pair[False])
    finally:
        _spare.MAX_SPARE_BYTES = limit
    return {"config": name, "description": config.description,
            "reuse_s": statistics.median(times[True]), "no_reuse_s": statistics.median(times[False]),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "pairs_faster": sum(ratio < 1 for ratio in ratios), "pairs": len(ratios)}  # fmt: skip


def print_memory_reuse(r: dict) -> None:
    print()
    print(
        f"creditlens, {r['description']}: bfloat16 forward+backward, medians of {r['pairs']} alternating pairs"
    )
    print(f"with the copy's memory reused: {r['reuse_s']:.3f}s; without: {r['no_reuse_s']:.3f}s; paired ratio "
          f"{r['ratio_median']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}), reuse faster in "
          f"{r['pairs_faster']} of {r['pairs']} pairs")  # fmt: skip


MATRIX_PRODUCTS = {"aten::mm", "aten::bmm", "aten::addmm", "aten::addmm_", "aten::baddbmm", "aten::baddbmm_",
                   "aten::addmv_", "aten::addbmm"}  # fmt: skip
CASTS = {"aten::copy_"}  # under autocast mostly rounding to bfloat16; also same-precision copies


def profile_forward_backward(
    model: nn.Module, x_inp: torch.Tensor
) -> tuple[dict[str, float], dict[str, int]]:
    """Self CPU milliseconds and numbers of calls of one forward+backward by kind of operation: matrix products,
    casts (every `copy_`) and everything else (mostly elementwise work). Run it on a warm model (`bf16_report`
    profiles after its timed runs)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        forward_backward(model, x_inp)
    kinds = ("matrix_products", "casts", "other")
    totals, calls = dict.fromkeys(kinds, 0.0), dict.fromkeys(kinds, 0)
    for event in prof.key_averages():
        kind = (
            "matrix_products" if event.key in MATRIX_PRODUCTS else "casts" if event.key in CASTS else "other"
        )
        totals[kind] += event.self_cpu_time_total / 1e3
        calls[kind] += event.count
    return totals, calls


def print_bf16_report(r: dict) -> None:
    print()
    print(f"creditlens, {r['description']}: float32 versus bfloat16 autocast (opt-in)")
    print(f"(THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '')!r}: with 1, torch backs large CPU "
          "tensors with 2 MiB pages)")  # fmt: skip
    print()
    print("| | float32 | bfloat16 | speedup |")
    print("|---|---|---|---|")
    for kind, label in (
        ("forward", "forward"),
        ("forward_backward", "fwd+bwd"),
        ("credit", "credit (route + chain)"),
    ):
        print(f"| {label} | {r[f'float32_{kind}_s']:.3g}s | {r[f'bfloat16_{kind}_s']:.3g}s "
              f"| **{r[f'speedup_{kind}']:.2f}x** |")  # fmt: skip
    print()
    first = sum(r[f"bfloat16_{kind}_first_s"] for kind in ("forward", "forward_backward", "credit"))
    print(
        "The first bfloat16 calls (not in the medians above; they compile the fused kernels) "
        f"took {first:.1f}s in all."
    )
    print(f"Spearman rank correlation of end-to-end credit, bfloat16 versus float32, per sample and output: "
          f"min {r['spearman_min']:.4f}, median {r['spearman_median']:.4f}")  # fmt: skip
    print(
        "Fast paths versus Algorithm 1 as written, float32 outputs and gradients: largest relative difference "
        f"{r['fast_vs_reference_max_rel_diff']:.1e}"
    )
    print()
    print("Self CPU time of one forward+backward (torch.profiler), ms:")
    for precision in ("float32", "bfloat16"):
        parts = r[f"{precision}_profile_ms"]
        print(f"  {precision}: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in parts.items())
              + f" (total {sum(parts.values()):.0f})")  # fmt: skip


def scaling_configs(base: list[int], factors: list[float]) -> list[tuple[str, Config]]:
    """(varied parameter, configuration) of the base single routing and of each parameter scaled by each factor."""
    batch, n, n_out, d = base

    def config(n: int, n_out: int, d: int) -> Config:
        description = f"batch {batch} x {n:,} x {d:,} -> {n_out:,} x {d:,} (n_inp=-1)"
        return Config(description, (batch,), n, ((-1, n_out, d, d),))

    rows = [("base", config(n, n_out, d))]
    for factor in factors:
        rows.append(("n_inp", config(max(1, round(n * factor)), n_out, d)))
        rows.append(("n_out", config(n, max(2, round(n_out * factor)), d)))
        rows.append(("d", config(n, n_out, max(1, round(d * factor)))))
    return sorted(rows, key=lambda row: ("base", "n_inp", "n_out", "d").index(row[0]))


def scaling(args: argparse.Namespace) -> list[dict]:
    """Forward+backward time and peak memory of both implementations for each of `scaling_configs`."""
    base = [int(v) for v in args.scaling_base.split(",")]
    factors = [float(v) for v in args.scaling_factors.split(",")]
    results = []
    for varied, config in scaling_configs(base, factors):
        print(f"running {config.description}", file=sys.stderr, flush=True)
        models = {impl: build(impl, config, args.reference) for impl in ("creditlens", "reference")}
        check_same_parameters(models)
        x_inp = inputs(config)
        times = {impl: [] for impl in models}
        for _ in range(args.repeats):  # alternate so both see the same machine state
            for impl, model in models.items():
                times[impl].append(median_seconds(lambda m=model, x=x_inp: forward_backward(m, x), 1))
        del models, x_inp
        row = {"varied": varied, "description": config.description, "n_inp": config.n,
               "n_out": config.layers[0][1], "d": config.layers[0][2]}  # fmt: skip
        for impl in ("creditlens", "reference"):
            row[f"{impl}_forward_backward_s"] = statistics.median(times[impl])
            row[f"{impl}_peak_gib"] = peak_memory_in_subprocess(impl, config, args)
        results.append(row)
    return results


def print_scaling(results: list[dict]) -> None:
    base = results[0]
    print()
    print("| varied | n_inp | n_out | d | fwd+bwd creditlens (x base) | fwd+bwd reference (x base) | ratio "
          "| peak GiB creditlens (x base) | peak GiB reference (x base) | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [r["varied"], f"{r['n_inp']:,}", f"{r['n_out']:,}", f"{r['d']:,}"]
        for kind, unit in (("forward_backward_s", "s"), ("peak_gib", "")):
            for impl in ("creditlens", "reference"):
                value = r[f"{impl}_{kind}"]
                cells.append(f"{value:.3g}{unit} ({value / base[f'{impl}_{kind}']:.2f}x)")
            cells.append(f"**{r[f'creditlens_{kind}'] / r[f'reference_{kind}']:.2f}x**")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="path to a checkout of glassroom/heinsen_routing")
    parser.add_argument("--configs", help=f"comma-separated, from {list(CONFIGS)} (default: head,long,toy; "
                        "head with --bf16)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--memory-repeats", type=int, default=3, help="fresh processes per peak memory figure"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true", help="float32 versus bfloat16 autocast (creditlens)")
    parser.add_argument("--reuse-ab", action="store_true", help="bfloat16 with and without memory reuse")
    parser.add_argument("--scaling", action="store_true", help="growth with n_inp, n_out and d; both")
    parser.add_argument("--scaling-base", default="8,4925,64,1024", help="batch,n_inp,n_out,d of the base")
    parser.add_argument(
        "--scaling-factors", default="0.5,2", help="comma-separated factors for each parameter"
    )
    parser.add_argument("--chunk-elements", type=int, help="creditlens's chunk size (default: the library's)")
    parser.add_argument("--fast-paths", choices=("on", "off"), default="on", help="creditlens's fast paths")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--measure-memory", nargs=2, metavar=("IMPL", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_chunk_elements(args.chunk_elements)
    set_fast_paths(args.fast_paths == "on")
    if args.measure_memory:
        impl, config = args.measure_memory
        print(measure_peak_memory(impl, CONFIGS.get(config) or Config.from_json(config), args.reference))
        return
    names = (args.configs or ("head" if args.bf16 or args.reuse_ab else "head,long,toy")).split(",")
    for name in names:
        if name not in CONFIGS:
            parser.error(f"unknown configuration {name!r}; choose from {list(CONFIGS)}")
    if args.scaling:
        results = scaling(args)
        print_scaling(results)
    elif args.reuse_ab:
        results = []
        for name in names:
            print(f"running {name} with and without memory reuse", file=sys.stderr, flush=True)
            results.append(memory_reuse_ab(name, args))
            print_memory_reuse(results[-1])
    elif args.bf16:
        results = []
        for name in names:
            print(f"running {name} in float32 and bfloat16", file=sys.stderr, flush=True)
            results.append(bf16_report(name, args))
            print_bf16_report(results[-1])
    else:
        results = []
        for name in names:
            print(f"running {name}: {CONFIGS[name].description}", file=sys.stderr, flush=True)
            results.append(compare(name, args))
        print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
