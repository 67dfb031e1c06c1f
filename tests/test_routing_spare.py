"""Under bfloat16 autocast a routing call's bfloat16 copy of its input lives in memory that the call hands on to
the next one when it is done (`routing/_spare.py`): calls in flight at once never share it, so results are
those of fresh memory, and a finished call's memory is reused.
"""

from __future__ import annotations

import pytest
import torch

from creditlens.routing import EfficientVectorRouting, _spare

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


@pytest.fixture(autouse=True)
def no_spare():
    _spare._spare = None  # each test starts with no block to reuse
    yield
    _spare._spare = None


def _layers() -> list[EfficientVectorRouting]:
    torch.manual_seed(0)
    return [EfficientVectorRouting(n_inp=-1, n_out=6, d_inp=32, d_out=16) for _ in range(2)]


def _grads(layers: list[EfficientVectorRouting], xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of two calls in flight at once: both forward passes, then one backward pass."""
    for layer in layers:
        layer.zero_grad(set_to_none=True)
    xs = [x.clone().requires_grad_() for x in xs]
    with torch.autocast(**BF16):
        loss = sum((layer(x) ** 2).sum() for layer, x in zip(layers, xs))
    loss.backward()
    return [x.grad for x in xs] + [p.grad for layer in layers for p in layer.parameters()]


def test_calls_in_flight_get_their_own_memory_and_match_fresh_memory(monkeypatch) -> None:
    layers = _layers()
    xs = [torch.randn(3, 40, 32, generator=torch.Generator().manual_seed(k)) for k in range(2)]
    monkeypatch.setattr(_spare, "MAX_SPARE_BYTES", 0)  # nothing is kept: every copy in fresh memory
    fresh = _grads(layers, xs)
    assert _spare._spare is None
    monkeypatch.undo()
    _grads(layers, xs[::-1])  # leaves a spare block holding the other inputs' copy
    assert _spare._spare is not None
    reused = _grads(layers, xs)
    for a, b in zip(reused, fresh):
        assert torch.equal(a, b)


def test_a_finished_call_hands_its_memory_to_the_next() -> None:
    layer = _layers()[0]
    x = torch.randn(2, 50, 32)
    with torch.autocast(**BF16), torch.no_grad():
        first = layer(x)
        block = _spare._spare
        assert block is not None and block.dtype == torch.bfloat16 and block.numel() == x.numel()
        second = layer(x[:, :30])  # a smaller input fits in the same memory
        assert _spare._spare.data_ptr() == block.data_ptr()
        assert torch.equal(first, layer(x)) and torch.equal(second, layer(x[:, :30]))


def test_a_retained_graph_keeps_its_memory_for_the_second_backward_pass() -> None:
    layer = _layers()[0]
    x = torch.randn(2, 50, 32, requires_grad=True)
    with torch.autocast(**BF16):
        y = layer(x)
    (g1,) = torch.autograd.grad(y.square().sum(), x, retain_graph=True)
    assert _spare._spare is None  # still the retained graph's
    with torch.autocast(**BF16), torch.no_grad():
        layer(torch.randn(2, 50, 32))  # would take a spare block and overwrite it
    (g2,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.equal(g1, g2)
