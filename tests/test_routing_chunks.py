"""Routing walks long inputs in chunks (`creditlens.routing.set_chunk_elements`); results and gradients must not
depend on the chunk size, and must equal those of Algorithm 1 as written (`fast_paths(False)`)."""

from __future__ import annotations

import pytest
import torch

from creditlens.routing import (
    EfficientVectorRouting,
    RoutingHead,
    chunk_elements,
    fast_paths,
    observe_routings,
    set_chunk_elements,
)
from creditlens.routing.fast._route import chunk_rows

f64 = torch.float64


@pytest.fixture(autouse=True)
def default_chunks():
    """Each test starts and ends with the default chunk size."""
    set_chunk_elements(None)
    yield
    set_chunk_elements(None)


def _outputs_and_grads(module: torch.nn.Module, x_inp: torch.Tensor, **kw) -> list[torch.Tensor]:
    x_inp = x_inp.detach().requires_grad_(True)
    out = module.route(x_inp, **kw)
    loss = out.x_out.square().sum() + out.phi.sin().sum()  # gradients through phi too
    loss.backward()
    grads = [x_inp.grad] + [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return [out.x_out.detach(), out.phi.detach(), out.R.detach(), *grads]


@pytest.mark.parametrize("n_inp", [13, -1])
def test_chunked_routing_equals_one_chunk(n_inp: int) -> None:
    module = EfficientVectorRouting(n_inp=n_inp, n_out=4, d_inp=5, d_out=3, n_iters=3, dtype=f64)
    x_inp = torch.randn(2, 13, 5, dtype=f64)
    mask = torch.rand(13, 4) < 0.3
    mask[6] = True
    pad_mask = torch.zeros(2, 13, dtype=torch.bool)
    pad_mask[1, 10:] = True
    for kw in ({}, {"mask": mask}, {"pad_mask": pad_mask}):
        whole = _outputs_and_grads(module, x_inp, **kw)
        with fast_paths(False):
            reference = _outputs_and_grads(module, x_inp, **kw)
        set_chunk_elements(2 * 4 * 3)  # three inputs per chunk: five chunks
        assert chunk_elements() == 24 and chunk_rows(2, 4) == 3
        chunked = _outputs_and_grads(module, x_inp, **kw)
        set_chunk_elements(None)
        for a, b, c in zip(whole, chunked, reference, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
            assert torch.allclose(a, c, rtol=1e-10, atol=1e-12)


def test_plain_call_with_gradients_matches_route() -> None:
    set_chunk_elements(16)
    module = EfficientVectorRouting(n_inp=-1, n_out=4, d_inp=5, d_out=3, dtype=f64)
    x_inp = torch.randn(3, 11, 5, dtype=f64, requires_grad=True)
    module(x_inp).square().sum().backward()
    lean = [x_inp.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    x_inp.grad = None
    with fast_paths(False):
        module.route(x_inp).x_out.square().sum().backward()
    full = [x_inp.grad] + [p.grad for p in module.parameters()]
    for a, b in zip(lean, full, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_plain_call_still_announces_phi_when_observed() -> None:
    head = RoutingHead(d_depth=2, d_emb=6, n_classes=3, n_hid=4)
    seen = []
    with observe_routings(lambda module, out: seen.append(out.phi.shape)):
        head.route(head.embed(torch.randn(1, 5, 2, 6)))
    assert seen == [(1, 10, 4), (1, 4, 4), (1, 4, 3)]


def test_chunk_elements_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        set_chunk_elements(0)
    assert chunk_elements() == 2**18  # unchanged: the default


def test_fast_paths_switch_restores_the_previous_setting() -> None:
    module = EfficientVectorRouting(n_inp=-1, n_out=4, d_inp=5, d_out=3, dtype=f64)
    x_inp = torch.randn(2, 11, 5, dtype=f64, requires_grad=True)
    assert type(module(x_inp).grad_fn).__name__ == "LeanRoutingBackward"
    with fast_paths(False):
        assert type(module(x_inp).grad_fn).__name__ != "LeanRoutingBackward"  # autograd through route()
        with fast_paths(True):
            assert type(module(x_inp).grad_fn).__name__ == "LeanRoutingBackward"
        assert type(module(x_inp).grad_fn).__name__ != "LeanRoutingBackward"
    assert type(module(x_inp).grad_fn).__name__ == "LeanRoutingBackward"
