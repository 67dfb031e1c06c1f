"""Parity with the reference implementation's stored float64 outputs (and float32 at a justified tolerance)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from creditlens.routing import (
    DefinableVectorRouting,
    EfficientVectorRouting,
    GenerativeMatrixRouting,
    RoutingHead,
    fast_paths,
)

from _modules import DotProductSimilarities, LearnedMemories
from conftest import load_case, max_rel_err, reference_cases, state_of

# float32 carries ~6e-8 relative error per operation. Two or more routing iterations chain a dozen reductions,
# softmaxes and LayerNorms, and the Gaussian matrix routing divides by variances near its eps (1e-5), which
# amplifies round-off. Measured over all cases: 1e-7 to 1e-6 for the vector routings, 4.5e-6 at worst for the
# Gaussian matrix routing. 2e-5 leaves margin without hiding bugs: a wrong formula or buffer moves outputs by 1e-3.
FLOAT32_RTOL = 2e-5


def _build(case: dict, dtype: torch.dtype) -> nn.Module:
    classes = {
        "EfficientVectorRouting": EfficientVectorRouting,
        "GenerativeMatrixRouting": GenerativeMatrixRouting,
    }
    if case["class"] == "DefinableVectorRouting":
        n_inp, n_out, d_inp, d_out = case["kw"]["n_inp"], case["kw"]["n_out"], 6, 5
        return DefinableVectorRouting(
            A=nn.Linear(d_inp, 1), F=LearnedMemories(n_inp, n_out, d_out), G=nn.Linear(d_out, d_inp),
            S=DotProductSimilarities(), n_inp=n_inp, n_out=n_out,
        ).to(dtype)  # fmt: skip
    return classes[case["class"]](**case["kw"], dtype=dtype)


def _run(name: str, dtype: torch.dtype) -> tuple[dict, dict]:
    case, tensors = load_case(name)
    module = _build(case, dtype)
    module.load_state_dict(state_of(tensors), strict=True)
    inputs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items() if "." not in k}
    if case["class"] == "GenerativeMatrixRouting":
        out = module.route(inputs["a_inp"], inputs["mu_inp"]).to_dict()
    else:
        out = module.route(inputs["x_inp"], mask=inputs.get("mask")).to_dict()
    expected = {k.removeprefix("out."): v for k, v in tensors.items() if k.startswith("out.")}
    return out, expected


ROUTING_CASES = (
    reference_cases("EfficientVectorRouting")
    + reference_cases("DefinableVectorRouting")
    + reference_cases("GenerativeMatrixRouting")
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "as-written"])
@pytest.mark.parametrize("name", ROUTING_CASES)
def test_every_stored_output_matches_reference_in_float64(name: str, fast: bool) -> None:
    with fast_paths(fast):
        out, expected = _run(name, torch.float64)
    assert expected, "the case stores outputs"
    for key, value in expected.items():
        assert out[key].shape == value.shape, key
        assert max_rel_err(out[key], value) < 1e-9, key


@pytest.mark.parametrize("name", ROUTING_CASES)
def test_every_stored_output_matches_reference_in_float32(name: str) -> None:
    out, expected = _run(name, torch.float32)
    for key, value in expected.items():
        assert out[key].dtype == torch.float32
        assert max_rel_err(out[key], value) < FLOAT32_RTOL, key


def test_plain_call_and_return_dict_behave_like_the_reference() -> None:
    case, tensors = load_case("evr_fixed")
    module = EfficientVectorRouting(**case["kw"], dtype=torch.float64)
    module.load_state_dict(state_of(tensors))
    x_out = module(tensors["x_inp"])
    assert torch.equal(x_out, module.route(tensors["x_inp"]).x_out)
    module.return_dict = True
    as_dict = module(tensors["x_inp"])
    assert set(as_dict) == {"a_inp", "V", "pred_x_inp", "S", "R", "D_use", "D_ign", "phi", "x_out"}
    assert max_rel_err(as_dict["phi"], tensors["out.phi"]) < 1e-9


def test_matrix_routing_plain_call_returns_scores_means_and_variances() -> None:
    case, tensors = load_case("gmr_gaussian_fixed")
    module = GenerativeMatrixRouting(**case["kw"], dtype=torch.float64)
    module.load_state_dict(state_of(tensors))
    a_out, mu_out, sig2_out = module(tensors["a_inp"], tensors["mu_inp"])
    assert max_rel_err(a_out, tensors["out.a_out"]) < 1e-9
    assert max_rel_err(mu_out, tensors["out.mu_out"]) < 1e-9
    assert max_rel_err(sig2_out, tensors["out.sig2_out"]) < 1e-9


@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "as-written"])
def test_paper_head_reproduces_scores_and_phis(fast: bool) -> None:
    case, tensors = load_case("paper_head_toy")
    kw = {k: v for k, v in case["kw"].items() if k != "n_pos"}
    head = RoutingHead(**kw, dtype=torch.float64)
    head.load_state_dict(state_of(tensors), strict=True)
    with fast_paths(fast):
        out = head.forward_with_phi(tensors["hidden_states"])
        scores = head(tensors["hidden_states"])
    assert max_rel_err(out.scores, tensors["out.scores"]) < 1e-9
    for k, phi in enumerate(out.phis):
        assert max_rel_err(phi, tensors[f"out.phi{k}"]) < 1e-9
    assert torch.equal(scores, out.scores)
