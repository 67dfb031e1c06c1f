"""Properties that must hold for any shapes and values (Hypothesis draws them): the Appendix A recipes are
scale-free and batch-independent, and exact contributions of any routing chain add up to its outputs."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlens.attribution import chain_contributions, sequential, sequential_for_classes
from creditlens.routing import EfficientVectorRouting

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def credit_chains(draw) -> list[torch.Tensor]:
    """A batch of chained credit matrices `[B, n_k, n_{k+1}]`, of random sizes and values, in float64."""
    batch = draw(st.integers(1, 3))
    # At least 2 x 2: a 1 x 1 credit matrix has no standard deviation (the recipes refuse it).
    sizes = draw(st.lists(st.integers(2, 6), min_size=2, max_size=5))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    return [
        torch.rand(batch, n, m, generator=generator, dtype=torch.float64) + 0.01
        for n, m in zip(sizes, sizes[1:])
    ]


@SETTINGS
@given(chain=credit_chains(), factors=st.lists(st.floats(0.01, 100.0), min_size=5, max_size=5))
def test_sequential_credit_does_not_change_when_a_phi_is_scaled(chain, factors) -> None:
    scaled = [phi * factor for phi, factor in zip(chain, factors)]
    torch.testing.assert_close(sequential(scaled, eps=0.0), sequential(chain, eps=0.0), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(chain=credit_chains())
def test_a_samples_sequential_credit_does_not_depend_on_its_batch(chain) -> None:
    batched = sequential(chain)
    for b in range(chain[0].shape[0]):
        alone = sequential([phi[b : b + 1] for phi in chain])
        torch.testing.assert_close(alone[0], batched[b], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(chain=credit_chains(), data=st.data())
def test_credit_for_some_classes_is_a_positive_multiple_of_those_columns(chain, data) -> None:
    n_out = chain[-1].shape[-1]
    classes = data.draw(st.lists(st.integers(0, n_out - 1), min_size=1, max_size=n_out, unique=True))
    full = sequential(chain, eps=0.0)[..., classes]  # [B, n_0, n_sel]
    some = sequential_for_classes(chain, classes, eps=0.0)
    ratio = some / full
    assert torch.all(ratio > 0)
    torch.testing.assert_close(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-9, atol=0)  # one per sample


@st.composite
def routing_chains(draw) -> tuple[list[EfficientVectorRouting], torch.Tensor, torch.Tensor]:
    """One to three chained routings of random sizes and weights, an input batch and its padding mask."""
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    n_layers = draw(st.integers(1, 3))
    n = [draw(st.integers(2, 7)) for _ in range(n_layers + 1)]
    d = [draw(st.integers(1, 6)) for _ in range(n_layers + 1)]
    iters = [draw(st.integers(1, 3)) for _ in range(n_layers)]
    layers = [
        EfficientVectorRouting(
            -1 if k == 0 else n[k], n[k + 1], d[k], d[k + 1], n_iters=iters[k], dtype=torch.float64
        )
        for k in range(n_layers)
    ]
    with torch.no_grad():  # away from the initial zeros and ones, so every bias term counts
        for layer in layers:
            for param in layer.parameters():
                param.add_(0.3 * torch.randn_like(param))
    batch = draw(st.integers(1, 3))
    x = torch.randn(batch, n[0], d[0], dtype=torch.float64)
    kept = [draw(st.integers(1, n[0])) for _ in range(batch)]  # each sample keeps at least one input
    pad = torch.arange(n[0]).expand(batch, -1) >= torch.tensor(kept)[:, None]
    return layers, x.masked_fill(pad[..., None], 0.0), pad


@SETTINGS
@given(chain=routing_chains())
def test_contributions_of_any_routing_chain_plus_bias_are_its_outputs(chain) -> None:
    layers, x, pad = chain
    with torch.no_grad():
        outputs = [layers[0].route(x, pad_mask=pad)]
        for layer in layers[1:]:
            outputs.append(layer.route(outputs[-1].x_out))
    result = chain_contributions(layers, x, outputs, pad)
    torch.testing.assert_close(result.values.sum(-3) + result.bias, outputs[-1].x_out, atol=1e-9, rtol=0)
    assert torch.all(result.values[pad] == 0)  # padding contributes nothing
