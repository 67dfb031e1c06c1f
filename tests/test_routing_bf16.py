"""bfloat16 autocast on CPU is opt-in: inside `torch.autocast("cpu", dtype=torch.bfloat16)` the routings' matrix
products run in bfloat16 and everything else in float32, so outputs, gradients and credit stay close to
float32's; outside it nothing changes.

Tolerances: bfloat16 keeps 8 bits of mantissa (relative rounding 2**-9 = 0.2%); outputs and gradients are held
to 3% in norm relative to float32's, and the end-to-end credit to a Spearman rank correlation of at least 0.99
per sample and class.
"""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution.recipes import sequential
from creditlens.routing import EfficientVectorRouting, RoutingHead
from creditlens.routing.fast._call import make_call
from creditlens.routing.fast._route import votes_are_smaller

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}
RTOL = 3e-2

# (n_inp, n_out, d_inp, d_out, inputs): the lean path with computed or fixed betas, and scalar votes
LAYERS = [(-1, 8, 64, 32, 40), (12, 8, 64, 32, 12), (6, 20, 64, 1, 6), (-1, 20, 64, 1, 6)]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rank correlation of a and b along dim -2 (ties are not expected in continuous credit)."""
    ranks = [x.argsort(dim=-2).argsort(dim=-2).to(torch.float64) for x in (a, b)]
    ranks = [r - r.mean(dim=-2, keepdim=True) for r in ranks]
    return (ranks[0] * ranks[1]).sum(dim=-2) / (ranks[0].norm(dim=-2) * ranks[1].norm(dim=-2))


def _layer(n_inp: int, n_out: int, d_inp: int, d_out: int) -> EfficientVectorRouting:
    torch.manual_seed(0)
    module = EfficientVectorRouting(n_inp=n_inp, n_out=n_out, d_inp=d_inp, d_out=d_out)
    with torch.no_grad():  # zero-initialised biases would hide their terms of the gradients
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return module


def _run(module: EfficientVectorRouting, x_inp: torch.Tensor, bf16: bool) -> list[torch.Tensor]:
    """Plain call with and without gradients, its gradients, and route()'s x_out and phi."""
    x_inp = x_inp.detach().requires_grad_()
    with torch.autocast(**BF16, enabled=bf16):
        x_out = module(x_inp)
        with torch.no_grad():
            x_out_no_grad = module(x_inp)
        routed = module.route(x_inp.detach())
    (x_out * torch.linspace(-1, 1, x_out.numel()).view_as(x_out)).sum().backward()
    grads = [x_inp.grad] + [p.grad for p in module.parameters()]
    module.zero_grad(set_to_none=True)
    return [x_out.detach(), x_out_no_grad, routed.x_out.detach(), routed.phi.detach(), *grads]


@pytest.mark.parametrize(("n_inp", "n_out", "d_inp", "d_out", "inputs"), LAYERS)
def test_bf16_autocast_is_close_to_float32(n_inp, n_out, d_inp, d_out, inputs) -> None:
    module = _layer(n_inp, n_out, d_inp, d_out)
    x_inp = torch.randn(3, inputs, d_inp)
    assert (d_out == 1) == votes_are_smaller(module, x_inp)
    low, full = _run(module, x_inp, bf16=True), _run(module, x_inp, bf16=False)
    for k, (a, b) in enumerate(zip(low, full, strict=True)):
        assert a.dtype == torch.float32 and torch.isfinite(a).all(), k
        assert _rel(a, b) < RTOL, (k, _rel(a, b))
    assert not torch.equal(low[0], full[0])  # the products did run in bfloat16


def test_float32_is_unchanged_outside_autocast() -> None:
    module = _layer(-1, 8, 64, 32)
    x_inp = torch.randn(3, 40, 64)
    call = make_call(module, x_inp, None, x_inp.new_full((1,), 40**-0.5))
    assert call.low is None and call.x_low is call.x  # no copy of the input, no cast
    before = _run(module, x_inp, bf16=False)
    _run(module, x_inp, bf16=True)
    with torch.autocast(**BF16, enabled=False):
        after = _run(module, x_inp, bf16=False)
    for a, b in zip(before, after, strict=True):
        assert torch.equal(a, b)


def test_bf16_credit_ranks_like_float32() -> None:
    torch.manual_seed(0)
    head = RoutingHead(d_depth=3, d_emb=64, n_classes=10, n_hid=16)
    hidden_states = torch.randn(2, 30, 3, 64)
    credit = []
    for bf16 in (True, False):
        with torch.no_grad(), torch.autocast(**BF16, enabled=bf16):
            out = head.forward_with_phi(hidden_states)
        credit.append(sequential(out.phis))  # [b, n_pos * d_depth, n_classes]
    rho = _spearman(*credit)  # [b, n_classes]
    assert rho.min() >= 0.99, rho


@pytest.mark.parametrize(("n_inp", "n_out", "d_inp", "d_out", "inputs"), LAYERS[::2])
def test_bf16_input_under_autocast(n_inp, n_out, d_inp, d_out, inputs) -> None:
    """An input already in bfloat16 (from a layer run under autocast) routes in float32, its gradient in bfloat16."""
    module = _layer(n_inp, n_out, d_inp, d_out)
    x_inp = torch.randn(3, inputs, d_inp)
    x_low = x_inp.bfloat16().requires_grad_()
    with torch.autocast(**BF16):
        x_out = module(x_low)
    x_out.sum().backward()
    assert x_out.dtype == torch.float32 and x_low.grad.dtype == torch.bfloat16
    assert _rel(x_out.detach(), module(x_inp).detach()) < RTOL
