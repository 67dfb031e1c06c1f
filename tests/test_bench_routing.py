"""The routing benchmark's helpers: configurations that survive the trip to a memory subprocess, the scaling
grid, the rank correlation, the check that what it times with the fast paths computes what Algorithm 1 as written
computes, and the bfloat16 report on a tiny configuration (creditlens only, so no checkout of the reference is
needed). Nothing here asserts a time: times this small are noise."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_routing.py"
_spec = importlib.util.spec_from_file_location("bench_routing", SCRIPT)
bench = sys.modules["bench_routing"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up there
_spec.loader.exec_module(bench)


def test_configurations_round_trip_through_json() -> None:
    for config in bench.CONFIGS.values():
        assert bench.Config.from_json(config.to_json()) == config


def test_scaling_grid_varies_one_parameter_at_a_time() -> None:
    rows = bench.scaling_configs([2, 40, 8, 16], [0.5, 2])
    assert [varied for varied, _ in rows] == ["base"] + ["n_inp"] * 2 + ["n_out"] * 2 + ["d"] * 2
    shapes = [(c.batch, c.n, *c.layers[0]) for _, c in rows]
    assert shapes[0] == ((2,), 40, -1, 8, 16, 16)
    assert shapes[1:3] == [((2,), 20, -1, 8, 16, 16), ((2,), 80, -1, 8, 16, 16)]
    assert shapes[3:5] == [((2,), 40, -1, 4, 16, 16), ((2,), 40, -1, 16, 16, 16)]
    assert shapes[5:] == [((2,), 40, -1, 8, 8, 8), ((2,), 40, -1, 8, 32, 32)]


def test_spearman_of_ranks() -> None:
    a = torch.tensor([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])  # [n=4, k=2]
    b = torch.tensor([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0], [40.0, 4.0]])
    rho = bench.spearman(a.expand(3, 4, 2), b.expand(3, 4, 2))
    assert rho.shape == (3, 2)
    assert torch.allclose(rho, torch.tensor([1.0, -1.0], dtype=torch.float64).expand(3, 2))


def test_fast_paths_agree_with_the_algorithm_as_written_on_the_measured_stack() -> None:
    # The tiny stack has the paper head's three kinds of layer: computed betas, fixed betas, scalar votes.
    config = bench.CONFIGS["tiny"]
    model, x_inp = bench.build("creditlens", config, "").double(), bench.inputs(config).double()
    assert bench.fast_path_agreement(model, x_inp) < 1e-10


def test_bf16_report_on_a_tiny_configuration() -> None:
    args = argparse.Namespace(reference="", repeats=1)
    result = bench.bf16_report("tiny", args)
    assert 0.99 <= result["spearman_min"] <= result["spearman_median"] <= 1.0
    assert result["fast_vs_reference_max_rel_diff"] < 1e-4  # float32: rounding only
    for precision in ("float32", "bfloat16"):  # the profile finds the matrix products by their op names
        parts = result[f"{precision}_profile_ms"]
        assert set(parts) == {"matrix_products", "casts", "other"} and parts["matrix_products"] > 0
    # bfloat16 adds casts (the input, weights, product results): counted, as times this small are noisy
    assert result["bfloat16_profile_calls"]["casts"] > result["float32_profile_calls"]["casts"]
