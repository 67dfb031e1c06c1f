"""Defects of the reference implementation that creditlens fixes, and behaviour the reference leaves undefined."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from creditlens.routing import DefinableVectorRouting, EfficientVectorRouting, GenerativeMatrixRouting

from _modules import DotProductSimilarities
from conftest import load_case, max_rel_err, state_of


def test_one_iteration_returns_its_dict_with_R_broadcast() -> None:
    # The reference raises UnboundLocalError here (pred_x_inp and S never exist after one iteration).
    case, tensors = load_case("evr_one_iter")
    module = EfficientVectorRouting(**case["kw"], return_dict=True, dtype=torch.float64)
    module.load_state_dict(state_of(tensors))
    out = module(tensors["x_inp"])
    assert max_rel_err(out["x_out"], tensors["out.x_out"]) < 1e-9
    batch, n_inp, n_out = 2, case["kw"]["n_inp"], case["kw"]["n_out"]
    assert out["R"].shape == out["phi"].shape == out["D_use"].shape == (batch, n_inp, n_out)
    assert torch.allclose(out["R"], torch.full_like(out["R"], 1 / n_out))
    assert out["pred_x_inp"] is None and out["S"] is None


@pytest.mark.parametrize("n_iters", [0, -2])
def test_fewer_than_one_iteration_is_rejected(n_iters: int) -> None:
    with pytest.raises(ValueError, match="n_iters must be at least 1"):
        EfficientVectorRouting(4, 3, 2, 2, n_iters=n_iters)
    with pytest.raises(ValueError, match="n_iters must be at least 1"):
        GenerativeMatrixRouting(4, 3, 2, 2, 2, n_iters=n_iters)


def _definable(n_inp: int, d_inp: int | None, n_out: int = 3, d_out: int = 4) -> DefinableVectorRouting:
    F = nn.Sequential(nn.Linear(6, n_out * d_out), nn.Unflatten(-1, (n_out, d_out)))
    return DefinableVectorRouting(
        A=nn.Linear(6, 1), F=F, G=nn.Linear(d_out, 6), S=DotProductSimilarities(), n_inp=n_inp, n_out=n_out,
        d_inp=d_inp,
    )  # fmt: skip


def test_definable_routing_with_variable_inputs_works_given_d_inp() -> None:
    # The reference cannot be built with n_inp=-1 (NameError: d_inp is not defined).
    module = _definable(n_inp=-1, d_inp=6)
    for n in (5, 11):
        out = module.route(torch.randn(2, n, 6))
        assert out.phi.shape == (2, n, 3)
        assert out.x_out.shape == (2, 3, 4)
    assert {"compute_beta_use.weight", "compute_beta_ign.bias"} <= set(module.state_dict())


def test_definable_routing_with_variable_inputs_needs_d_inp() -> None:
    with pytest.raises(ValueError, match="needs d_inp"):
        _definable(n_inp=-1, d_inp=None)


def _fully_masked_case() -> tuple[EfficientVectorRouting, torch.Tensor, torch.Tensor]:
    module = EfficientVectorRouting(n_inp=6, n_out=4, d_inp=5, d_out=3, dtype=torch.float64)
    x_inp = torch.randn(2, 6, 5, dtype=torch.float64)
    mask = torch.zeros(6, 4, dtype=torch.bool)
    mask[2] = True  # input 2 is ignored by every output
    mask[4, :2] = True
    return module, x_inp, mask


def test_input_masked_for_every_output_gets_zero_credit_and_finite_outputs() -> None:
    # The reference's softmax over an all -inf row returns NaN, which spreads to the whole sample.
    module, x_inp, mask = _fully_masked_case()
    out = module.route(x_inp, mask=mask)
    assert torch.isfinite(out.x_out).all() and torch.isfinite(out.phi).all()
    assert torch.equal(out.phi[:, 2], torch.zeros_like(out.phi[:, 2]))
    assert torch.equal(out.R[:, 2], torch.zeros_like(out.R[:, 2]))
    assert (out.phi[:, 4, :2] == 0).all() and (out.phi[:, 4, 2:] != 0).all()
    # Zero credit means the input does not matter: changing it leaves the outputs unchanged.
    x_changed = x_inp.clone()
    x_changed[:, 2] = 100.0
    assert torch.allclose(module.route(x_changed, mask=mask).x_out, out.x_out, atol=1e-12)


def test_fully_masked_input_has_finite_gradients() -> None:
    module, x_inp, mask = _fully_masked_case()
    x_inp.requires_grad_(True)
    module.route(x_inp, mask=mask).x_out.pow(2).sum().backward()
    assert torch.isfinite(x_inp.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize("variant", ["efficient", "definable"])
def test_padded_batch_routes_each_sequence_as_if_alone(variant: str) -> None:
    torch.manual_seed(3)
    if variant == "efficient":
        module = EfficientVectorRouting(n_inp=-1, n_out=4, d_inp=6, d_out=5)
    else:
        module = _definable(n_inp=-1, d_inp=6, n_out=4, d_out=5)
    lengths = [5, 9, 12]
    seqs = [torch.randn(n, 6) for n in lengths]
    padded = torch.full((3, 12, 6), 7.0)  # padding with large values: it must not leak into anything
    pad_mask = torch.ones(3, 12, dtype=torch.bool)
    for b, seq in enumerate(seqs):
        padded[b, : len(seq)] = seq
        pad_mask[b, : len(seq)] = False
    batched = module.route(padded, pad_mask=pad_mask)
    for b, seq in enumerate(seqs):
        alone = module.route(seq)
        n = len(seq)
        assert torch.allclose(batched.x_out[b], alone.x_out, rtol=1e-6, atol=1e-6)
        assert torch.allclose(batched.phi[b, :n], alone.phi, rtol=1e-6, atol=1e-6)
        assert (batched.phi[b, n:] == 0).all()


def test_pad_mask_marking_a_whole_sample_is_an_error() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=3, d_inp=4, d_out=2)
    pad_mask = torch.zeros(2, 5, dtype=torch.bool)
    pad_mask[1] = True
    with pytest.raises(ValueError, match="every input of a sample"):
        module.route(torch.randn(2, 5, 4), pad_mask=pad_mask)
