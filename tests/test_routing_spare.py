"""Under bfloat16 autocast a routing call's bfloat16 copy of its input lives in memory that the call hands on to
the next one when it is done (`routing/fast/_spare.py`): calls in flight at once never share it, and a graph
kept for a second backward pass keeps it, so every result is that of calls made one at a time.
"""

from __future__ import annotations

import torch

from creditlens.routing import EfficientVectorRouting

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def _layers() -> list[EfficientVectorRouting]:
    torch.manual_seed(0)
    return [EfficientVectorRouting(n_inp=-1, n_out=6, d_inp=32, d_out=16) for _ in range(2)]


def _grads(
    layers: list[EfficientVectorRouting], xs: list[torch.Tensor], in_flight: bool
) -> list[torch.Tensor]:
    """Gradients of two calls: both forward passes then one backward pass (in flight at once), or one call's
    forward and backward pass after the other's."""
    for layer in layers:
        layer.zero_grad(set_to_none=True)
    xs = [x.clone().requires_grad_() for x in xs]
    with torch.autocast(**BF16):
        if in_flight:
            sum((layer(x) ** 2).sum() for layer, x in zip(layers, xs)).backward()
        else:
            for layer, x in zip(layers, xs):
                (layer(x) ** 2).sum().backward()
    return [x.grad for x in xs] + [p.grad for layer in layers for p in layer.parameters()]


def test_calls_in_flight_get_their_own_memory() -> None:
    layers = _layers()
    xs = [torch.randn(3, 40, 32, generator=torch.Generator().manual_seed(k)) for k in range(2)]
    one_at_a_time = _grads(layers, xs, in_flight=False)
    first = _grads(layers, xs, in_flight=True)
    _grads(layers, xs[::-1], in_flight=True)  # leaves memory that held the other inputs' copies
    again = _grads(layers, xs, in_flight=True)
    for a, b, c in zip(one_at_a_time, first, again, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_a_call_after_a_larger_one_gives_its_own_results() -> None:
    layer = _layers()[0]
    x = torch.randn(2, 50, 32)
    with torch.autocast(**BF16), torch.no_grad():
        first = layer(x)
        second = layer(x[:, :30])  # a smaller input, in memory a larger copy used
        assert torch.equal(first, layer(x)) and torch.equal(second, layer(x[:, :30]))
        assert torch.equal(second, layer(x[:, :30].clone()))


def test_a_retained_graph_keeps_its_memory_for_the_second_backward_pass() -> None:
    layer = _layers()[0]
    x = torch.randn(2, 50, 32, requires_grad=True)
    with torch.autocast(**BF16):
        y = layer(x)
    (g1,) = torch.autograd.grad(y.square().sum(), x, retain_graph=True)
    with torch.autocast(**BF16), torch.no_grad():
        layer(torch.randn(2, 50, 32))  # would take the memory of the retained graph's copy and overwrite it
    (g2,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.equal(g1, g2)
