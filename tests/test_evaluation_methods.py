"""Each baseline on a small case with a known answer; routing credit equals the explanation's credit."""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution.evaluation import METHODS, methods_for, spearman
from creditlens.attribution.evaluation.attention_methods import (
    credit_through_rollout,
    grad_rollout,
    last_attention,
    rollout,
)

from _toy_probes import OnePatchModel, ToyImageProbe

# One block, one head, two positions; rows are queries.
A = torch.tensor([[[[0.2, 0.8], [0.6, 0.4]]]])
UNIFORM = torch.ones(1, 2)


def test_rollout_of_one_block_is_the_renormalised_half_identity_mix():
    # 0.5 A + 0.5 I = [[0.6, 0.4], [0.3, 0.7]] (rows sum to 1); read uniformly over queries.
    assert torch.allclose(rollout([A], UNIFORM), torch.tensor([[0.45, 0.55]]))
    # Read from the first position only (a class-token model): its row.
    assert torch.allclose(rollout([A], torch.tensor([[1.0, 0.0]])), torch.tensor([[0.6, 0.4]]))


def test_rollout_multiplies_blocks_and_identity_attention_gives_no_preference():
    mixed = torch.tensor([[0.6, 0.4], [0.3, 0.7]])
    two_blocks = (mixed @ mixed).mean(0, keepdim=True)
    assert torch.allclose(rollout([A, A], UNIFORM), two_blocks)
    identity = torch.eye(3).view(1, 1, 3, 3).expand(2, 4, 3, 3)
    assert torch.allclose(rollout([identity] * 3, torch.ones(2, 3)), torch.full((2, 3), 1 / 3))


def test_last_attention_is_the_head_mean_of_the_last_block():
    other = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])
    two_heads = torch.cat([A, other], dim=1)  # [1, 2, 2, 2]
    expected = ((A + other) / 2)[0, 0].mean(0, keepdim=True)  # [[0.35, 0.65]] averaged with [0.5, 0.5]
    assert torch.allclose(last_attention([other, two_heads], UNIFORM), expected)


def test_grad_rollout_keeps_only_positive_gradient_times_attention():
    grad = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])
    # (grad * A)^+ = [[0.2, 0], [0, 0.8]]; R = I + that = diag(1.2, 1.8); read uniformly.
    assert torch.allclose(grad_rollout([A], [grad], UNIFORM), torch.tensor([[0.6, 0.9]]))
    with pytest.raises(ValueError, match="gradients"):
        grad_rollout([A, A], [grad], UNIFORM)


def test_credit_through_rollout_shares_each_depths_credit_along_its_rollout_row():
    credit = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # [B, n_pos, d_depth]: depth 0, then after block 1
    # Depth 0 stays put: [1, 3]. Depth 1 goes along 0.5 A + 0.5 I: [2, 4] @ [[0.6, 0.4], [0.3, 0.7]].
    assert torch.allclose(credit_through_rollout(credit, [A]), torch.tensor([[3.4, 6.6]]))
    identity = torch.eye(2).view(1, 1, 2, 2)
    assert torch.allclose(credit_through_rollout(credit, [identity]), credit.sum(-1))
    with pytest.raises(ValueError, match="2 depths, but 2 blocks make 3"):
        credit_through_rollout(credit, [A, A])


def _toy(bias: float = 0.0) -> tuple[ToyImageProbe, object, torch.Tensor]:
    probe = ToyImageProbe(OnePatchModel(target=1, gain=0.5, d=3, bias=bias))
    pixels = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    batch = probe.batch_of(pixels, [0, 0])
    patch_sums = pixels.unfold(2, 4, 4).unfold(3, 4, 4).sum((-1, -2)).flatten(1)  # [2, 4] row-major
    return probe, batch, patch_sums


def test_input_x_gradient_and_integrated_gradients_on_a_linear_model():
    probe, batch, sums = _toy(bias=0.5)
    classes = torch.tensor([0, 0])
    generator = torch.Generator().manual_seed(0)
    # Score = 0.5 * sum over 3 dims of patch 1's embedding (its pixel sum + 0.5): gradient 0.5 there only.
    ixg = METHODS["input_x_gradient"].fn(probe, batch, classes, generator)
    expected = torch.zeros(2, 4)
    expected[:, 1] = 0.5 * 3 * (sums[:, 1] + 0.5)
    assert torch.allclose(ixg, expected, atol=1e-5)
    # Integrated Gradients starts from the embedding of black pixels (the bias): it subtracts it.
    ig = METHODS["integrated_gradients"].fn(probe, batch, classes, generator)
    expected[:, 1] = 0.5 * 3 * sums[:, 1]
    assert torch.allclose(ig, expected, atol=1e-4)


def test_gradcam_ranks_patches_by_activation_when_the_gradient_is_uniform_over_channels():
    # Every channel of the target token has gradient 0.5, so Grad-CAM's channel weights are equal and its
    # map ranks tokens by their summed activation: the patch pixel sums.
    probe, batch, sums = _toy()
    cam = METHODS["gradcam"].fn(probe, batch, torch.tensor([0, 0]), torch.Generator())
    assert cam.shape == (2, 4)
    assert torch.allclose(spearman(cam, sums), torch.ones(2, dtype=torch.float64))


def test_edge_map_finds_the_only_patch_with_edges():
    probe, _, _ = _toy()
    pixels = torch.zeros(1, 1, 8, 8)
    pixels[..., 5:, 5] = 1.0  # a vertical line inside the bottom-right patch, clear of the others' reach
    edges = METHODS["edges"].fn(probe, probe.batch_of(pixels, [0]), torch.tensor([0]), torch.Generator())
    assert int(edges.argmax()) == 3
    assert float(edges[0, 0]) == 0.0


def test_random_map_is_reproducible_from_its_seed_and_differs_across_samples():
    probe, batch, _ = _toy()
    first = METHODS["random"].fn(probe, batch, torch.tensor([0, 0]), torch.Generator().manual_seed(3))
    again = METHODS["random"].fn(probe, batch, torch.tensor([0, 0]), torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])


def test_methods_for_checks_names_and_tasks():
    assert [m.name for m in methods_for("text")] == [
        "routing",
        "routing_rollout",
        "contribution",
        "contribution_rollout",
        "contribution_lrp",
        "random",
        "rollout",
        "raw_attention",
        "grad_rollout",
        "input_x_gradient",
        "integrated_gradients",
    ]
    assert "gradcam" in [m.name for m in methods_for("image")]
    with pytest.raises(
        ValueError,
        match="unknown method 'lime'; known methods: routing, routing_rollout, contribution, contribution_rollout",
    ):
        methods_for("image", ["routing", "lime"])
    with pytest.raises(ValueError, match="'gradcam' does not apply to text"):
        methods_for("text", ["gradcam"])
