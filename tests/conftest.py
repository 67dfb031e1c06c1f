"""Shared fixtures: the reference vectors copied from the reference implementation's float64 run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REFERENCE = Path(__file__).parent / "data" / "reference"


def load_case(name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Return a reference case's description and its stored tensors."""
    cases = {c["name"]: c for c in json.loads((REFERENCE / "cases.json").read_text())["cases"]}
    case = cases[name]
    return case, torch.load(REFERENCE / case["file"], weights_only=True)


def reference_cases(class_name: str) -> list[str]:
    """Names of the stored cases of one routing class."""
    cases = json.loads((REFERENCE / "cases.json").read_text())["cases"]
    return [c["name"] for c in cases if c["class"] == class_name]


def state_of(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The module state stored under `state.` in a reference case."""
    return {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}


def max_rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference relative to the largest magnitude of the expected tensor."""
    scale = expected.abs().max().clamp(min=1e-300)
    return float((actual.detach().to(expected.dtype) - expected).abs().max() / scale)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
