"""Routing walks long inputs in chunks; results and gradients must not depend on the chunk size."""

from __future__ import annotations

import pytest
import torch

import creditlens.routing._em as em
from creditlens.routing import EfficientVectorRouting, RoutingHead, observe_routings

f64 = torch.float64


def _outputs_and_grads(module: torch.nn.Module, x_inp: torch.Tensor, **kw) -> list[torch.Tensor]:
    x_inp = x_inp.detach().requires_grad_(True)
    out = module.route(x_inp, **kw)
    loss = out.x_out.square().sum() + out.phi.sin().sum()  # gradients through phi too
    loss.backward()
    grads = [x_inp.grad] + [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return [out.x_out.detach(), out.phi.detach(), out.R.detach(), *grads]


@pytest.mark.parametrize("n_inp", [13, -1])
def test_chunked_routing_equals_one_chunk(monkeypatch: pytest.MonkeyPatch, n_inp: int) -> None:
    module = EfficientVectorRouting(n_inp=n_inp, n_out=4, d_inp=5, d_out=3, n_iters=3, dtype=f64)
    x_inp = torch.randn(2, 13, 5, dtype=f64)
    mask = torch.rand(13, 4) < 0.3
    mask[6] = True
    pad_mask = torch.zeros(2, 13, dtype=torch.bool)
    pad_mask[1, 10:] = True
    for kw in ({}, {"mask": mask}, {"pad_mask": pad_mask}):
        whole = _outputs_and_grads(module, x_inp, **kw)
        monkeypatch.setattr(em, "CHUNK_ELEMENTS", 2 * 4 * 3)  # three inputs per chunk: five chunks
        assert em.chunk_rows(2, 4) == 3
        chunked = _outputs_and_grads(module, x_inp, **kw)
        monkeypatch.undo()
        for a, b in zip(whole, chunked, strict=True):
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_plain_call_with_gradients_matches_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(em, "CHUNK_ELEMENTS", 16)
    module = EfficientVectorRouting(n_inp=-1, n_out=4, d_inp=5, d_out=3, dtype=f64)
    x_inp = torch.randn(3, 11, 5, dtype=f64, requires_grad=True)
    module(x_inp).square().sum().backward()
    lean = [x_inp.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    x_inp.grad = None
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
