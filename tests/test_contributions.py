"""Exact contributions: with phi and norm statistics held, a routing chain's outputs split into one term per
input plus bias terms, exactly, per sample, with padding, in float32, float64 and under bfloat16 autocast."""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution import chain_contributions, head_contributions
from creditlens.routing import EfficientVectorRouting, RoutingHead


def _head(dtype: torch.dtype, seed: int = 0) -> RoutingHead:
    torch.manual_seed(seed)
    head = RoutingHead(d_depth=3, d_emb=16, n_classes=5, n_hid=6, dtype=dtype)
    with torch.no_grad():  # away from the initial zeros and ones, so every bias term is exercised
        for param in head.parameters():
            param.add_(0.3 * torch.randn_like(param))
    return head


def _padded_states(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    hidden = torch.randn(4, 7, 3, 16, dtype=dtype)
    pad = torch.zeros(4, 7, dtype=torch.bool)
    pad[1, 5:] = True
    pad[2, 3:] = True
    return hidden.masked_fill(pad[..., None, None], 0.0), pad


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float32, 1e-5), (torch.float64, 1e-9)])
def test_head_contributions_plus_bias_are_the_scores(dtype, atol):
    head = _head(dtype)
    hidden, pad = _padded_states(dtype)
    with torch.no_grad():
        out = head.forward_with_phi(hidden, pad)
    result = head_contributions(head, hidden, out, pad)
    assert result.values.shape == (4, 7, 3, 5)
    total = result.values.sum((1, 2)) + result.bias  # [B, n_classes]
    torch.testing.assert_close(total, out.scores, atol=atol, rtol=0)
    assert result.values[pad].abs().max() == 0  # padding contributes nothing
    assert result.bias.abs().min() > 1e-3  # the bias terms are real: they are not spread over the inputs


def test_head_contributions_of_a_sample_do_not_depend_on_its_batch():
    head = _head(torch.float64)
    hidden, pad = _padded_states(torch.float64)
    with torch.no_grad():
        out = head.forward_with_phi(hidden, pad)
        alone = head.forward_with_phi(hidden[1:2, :5])
    batched = head_contributions(head, hidden, out, pad)
    single = head_contributions(head, hidden[1:2, :5], alone)
    torch.testing.assert_close(single.values[0], batched.values[1, :5], atol=1e-12, rtol=0)
    torch.testing.assert_close(single.bias[0], batched.bias[1], atol=1e-12, rtol=0)


def test_selected_classes_are_the_columns_of_all_classes():
    head = _head(torch.float64)
    hidden, pad = _padded_states(torch.float64)
    with torch.no_grad():
        out = head.forward_with_phi(hidden, pad)
    every = head_contributions(head, hidden, out, pad)
    some = head_contributions(head, hidden, out, pad, torch.tensor([3, 1]))
    torch.testing.assert_close(some.values, every.values[..., [3, 1]])
    torch.testing.assert_close(some.bias, every.bias[..., [3, 1]])


def test_head_gradient_times_hidden_states_is_the_contribution_and_matches_a_held_autograd():
    head = _head(torch.float64)
    hidden, pad = _padded_states(torch.float64)
    with torch.no_grad():
        out = head.forward_with_phi(hidden, pad)
    result = head_contributions(head, hidden, out, pad, torch.tensor([2]), grad=True)
    torch.testing.assert_close(
        (hidden.unsqueeze(-2) * result.grad).sum(-1), result.values, atol=1e-12, rtol=0
    )
    # Autograd through the head with every phi and norm statistic detached gives the same gradient.
    leaf = hidden.clone().requires_grad_(True)
    x = (leaf - leaf.mean(-1, keepdim=True)) / (
        leaf.var(-1, unbiased=False, keepdim=True) + 1e-5
    ).sqrt().detach()
    x = (x * head.W + head.B).flatten(-3, -2)
    for depth, (routing, held) in enumerate(zip(head.route, out.outputs)):
        n_real = 3 * (~pad).sum(-1) if depth == 0 else torch.full((len(x),), x.shape[-2])  # rows: 3 depths
        scale = n_real.double().rsqrt().view(-1, 1, 1, 1)
        votes = scale * torch.einsum("bid,jd,dh->bijh", x, routing.W_F1, routing.W_F2) + routing.B_F2
        x = (held.phi.unsqueeze(-1) * votes).sum(-3)  # [bjh]
        if held.std_out is not None:
            x = (x - x.mean(-1, keepdim=True)) / held.std_out
    (expected,) = torch.autograd.grad(x[..., 2, 0].sum(), leaf)
    torch.testing.assert_close(result.grad[..., 0, :], expected, atol=1e-10, rtol=0)


def test_chain_contributions_split_every_output_element():
    torch.manual_seed(1)
    layers = [
        EfficientVectorRouting(-1, 5, 8, 12, dtype=torch.float64),
        EfficientVectorRouting(5, 4, 12, 3, n_iters=3, dtype=torch.float64),
    ]
    x = torch.randn(2, 9, 8, dtype=torch.float64)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, 6:] = True
    with torch.no_grad():
        first = layers[0].route(x, pad_mask=pad)
        second = layers[1].route(first.x_out)
    result = chain_contributions(layers, x, [first, second], pad, select=torch.tensor([1, 3]))
    assert result.values.shape == (2, 9, 2, 3)
    torch.testing.assert_close(
        result.values.sum(-3) + result.bias, second.x_out[:, [1, 3]], atol=1e-9, rtol=0
    )
    assert result.values[0, 6:].abs().max() == 0


def test_chain_of_other_layers_is_a_clear_error():
    layer = torch.nn.Linear(5, 3)
    with pytest.raises(TypeError, match="need EfficientVectorRouting layers, got Linear"):
        chain_contributions([layer], torch.randn(4, 5), [None])


def test_contributions_under_bfloat16_autocast_add_up_to_the_scores_within_its_precision():
    head = _head(torch.float32)
    hidden, pad = _padded_states(torch.float32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = head.forward_with_phi(hidden, pad)
        result = head_contributions(head, hidden, out, pad)
    assert result.values.dtype == torch.float32
    total = result.values.sum((1, 2)) + result.bias
    assert (total - out.scores).abs().max() <= 0.02 * out.scores.abs().max()


def test_many_classes_are_split_exactly_too():
    # 1,000 classes over 2,000 inputs are more than one chunk of classes at a time. In float64, so the check
    # is exact: in float32 a sum of 4,000 terms is only as exact as its round-off (about 1e-5 here).
    torch.manual_seed(2)
    head = RoutingHead(d_depth=2, d_emb=8, n_classes=1000, n_hid=8, dtype=torch.float64)
    hidden = torch.randn(2, 1000, 2, 8, dtype=torch.float64)
    with torch.no_grad():
        out = head.forward_with_phi(hidden)
    result = head_contributions(head, hidden, out, grad=True)
    torch.testing.assert_close(result.values.sum((1, 2)) + result.bias, out.scores, atol=1e-9, rtol=0)
    torch.testing.assert_close((hidden.unsqueeze(-2) * result.grad).sum(-1), result.values, atol=1e-9, rtol=0)


def test_one_target_per_sample_is_that_sample_s_column():
    head = _head(torch.float64)
    hidden, pad = _padded_states(torch.float64)
    with torch.no_grad():
        out = head.forward_with_phi(hidden, pad)
    every = head_contributions(head, hidden, out, pad, grad=True)
    target = torch.tensor([4, 0, 2, 2])
    one = head_contributions(head, hidden, out, pad, target=target, grad=True)
    rows = torch.arange(4)
    torch.testing.assert_close(one.values[..., 0], every.values[rows, ..., target])
    torch.testing.assert_close(one.bias[:, 0], every.bias[rows, target])
    torch.testing.assert_close(one.grad[..., 0, :], every.grad[rows, :, :, target])
