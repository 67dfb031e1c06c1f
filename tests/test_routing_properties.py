"""Properties users rely on: gradients, credit of the matrix routing, the head's checkpoints and votes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from creditlens.routing import (
    DefinableVectorRouting,
    EfficientVectorRouting,
    GenerativeMatrixRouting,
    RoutingHead,
)

from _modules import DotProductSimilarities, LearnedMemories
from conftest import REFERENCE

f64 = torch.float64


@pytest.mark.parametrize("n_inp", [5, -1])
def test_gradcheck_efficient(n_inp: int) -> None:
    module = EfficientVectorRouting(n_inp=n_inp, n_out=3, d_inp=4, d_out=3, n_iters=3, dtype=f64)
    x_inp = torch.randn(2, 5, 4, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: module.route(x).x_out, (x_inp,))
    assert torch.autograd.gradcheck(lambda x: module.route(x).phi, (x_inp,))


def test_gradcheck_efficient_masked_and_padded() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=4, d_out=3, dtype=f64)
    x_inp = torch.randn(2, 5, 4, dtype=f64, requires_grad=True)
    mask = torch.zeros(5, 3, dtype=torch.bool)
    mask[1] = True
    mask[3, 0] = True
    pad_mask = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    assert torch.autograd.gradcheck(lambda x: module.route(x, mask=mask, pad_mask=pad_mask).x_out, (x_inp,))


def test_gradcheck_definable() -> None:
    module = DefinableVectorRouting(
        A=nn.Linear(4, 1), F=LearnedMemories(5, 3, 2), G=nn.Linear(2, 4), S=DotProductSimilarities(),
        n_inp=5, n_out=3,
    ).to(f64)  # fmt: skip
    x_inp = torch.randn(2, 5, 4, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: module.route(x).x_out, (x_inp,))


@pytest.mark.parametrize("p_model", ["gaussian", "skm"])
def test_gradcheck_generative(p_model: str) -> None:
    module = GenerativeMatrixRouting(n_inp=4, n_out=3, d_cov=2, d_inp=2, d_out=2, p_model=p_model, dtype=f64)
    with torch.no_grad():
        module.beta_use.normal_()
        module.beta_ign.normal_()
    a_inp = torch.randn(4, dtype=f64, requires_grad=True)
    mu_inp = torch.randn(4, 2, 2, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, mu: module.route(a, mu).a_out, (a_inp, mu_inp))
    assert torch.autograd.gradcheck(lambda a, mu: module.route(a, mu).mu_out, (a_inp, mu_inp))


@pytest.mark.parametrize("single_beta", [False, True])
def test_matrix_routing_credit_sums_to_output_scores_exactly(single_beta: bool) -> None:
    module = GenerativeMatrixRouting(n_inp=-1, n_out=4, d_cov=3, d_inp=3, d_out=3, single_beta=single_beta)
    with torch.no_grad():
        module.beta_use.normal_()
        module.beta_ign.normal_()
    out = module.route(torch.randn(2, 9), torch.randn(2, 9, 3, 3))
    assert out.phi.shape == (2, 9, 4)
    assert torch.equal(out.phi.sum(dim=-2), out.a_out)
    expected = module.beta_use * out.D_use - module.beta_ign * out.D_ign
    assert torch.allclose(out.phi, expected, rtol=0, atol=1e-6)


def test_vector_routing_credit_is_the_papers_definition() -> None:
    module = EfficientVectorRouting(n_inp=7, n_out=3, d_inp=4, d_out=5, dtype=f64)
    out = module.route(torch.randn(2, 7, 4, dtype=f64))
    expected = module.beta_use * out.D_use - module.beta_ign * out.D_ign
    assert torch.allclose(out.phi, expected, rtol=1e-12, atol=1e-14)
    assert torch.allclose(out.D_use + out.D_ign, out.f_a_inp.expand_as(out.R), rtol=0, atol=1e-15)


@pytest.mark.parametrize("n_inp", [7, -1])
def test_outputs_are_credit_weighted_sums_of_votes(n_inp: int) -> None:
    module = EfficientVectorRouting(n_inp=n_inp, n_out=3, d_inp=4, d_out=5, normalize=False, dtype=f64)
    x_inp = torch.randn(2, 7, 4, dtype=f64)
    out = module.route(x_inp)
    V = module.votes(x_inp)  # [...ijh]
    assert torch.allclose((out.phi.unsqueeze(-1) * V).sum(-3), out.x_out, rtol=1e-12, atol=1e-12)
    materialised = EfficientVectorRouting(
        n_inp=n_inp, n_out=3, d_inp=4, d_out=5, memory_efficient=False, dtype=f64
    )
    materialised.load_state_dict(module.state_dict())
    assert torch.allclose(materialised.route(x_inp).V, V, rtol=1e-12, atol=1e-12)


def test_head_scores_decompose_into_last_credit_times_votes() -> None:
    head = RoutingHead(d_depth=3, d_emb=8, n_classes=5, n_hid=4, dtype=f64)
    out = head.forward_with_phi(torch.randn(2, 6, 3, 8, dtype=f64))
    assert [tuple(p.shape) for p in out.phis] == [(2, 18, 4), (2, 4, 4), (2, 4, 5)]
    assert torch.allclose((out.phis[-1] * out.votes).sum(-2), out.scores, rtol=1e-12, atol=1e-12)


def test_head_pad_mask_gives_padding_positions_zero_credit() -> None:
    head = RoutingHead(d_depth=3, d_emb=8, n_classes=5, n_hid=4, dtype=f64)
    states = torch.randn(1, 6, 3, 8, dtype=f64)
    pad_mask = torch.tensor([[False] * 4 + [True] * 2])
    out = head.forward_with_phi(states, pad_mask)
    assert (out.phis[0][0, 12:] == 0).all()
    assert torch.allclose(out.scores, head(states[:, :4]), rtol=1e-12, atol=1e-12)


PAPER_CHECKPOINTS = json.loads((REFERENCE / "paper_checkpoints.json").read_text())


@pytest.mark.parametrize("name", sorted(PAPER_CHECKPOINTS))
def test_head_loads_each_published_checkpoint_layout_strictly(name: str) -> None:
    entry = PAPER_CHECKPOINTS[name]
    with torch.device("meta"):
        head = RoutingHead(entry["d_depth"], entry["d_emb"], entry["n_classes"], n_hid=entry["n_hid"])
    state = {key: torch.zeros(shape) for key, shape in entry["keys"].items()}
    head.load_state_dict(state, strict=True, assign=True)
    assert sum(p.numel() for p in head.parameters()) == entry["n_params"]
    assert head.W.device.type == "cpu"
