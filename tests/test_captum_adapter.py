"""`RoutingAttribution` gives Captum what its metrics take: a forward function on the model's tensor, and
attributions shaped like that tensor which keep the credit's totals; Captum's infidelity runs on them."""

from __future__ import annotations

import pytest
import torch
from captum.metrics import infidelity

from creditlens.attribution import RoutingAttribution, load_model
from creditlens.attribution.data.datasets import load_fashion_mnist


@pytest.fixture(scope="module")
def vit():
    return load_model("fashion-mnist-vit").classifier


@pytest.fixture(scope="module")
def minilm():
    return load_model("rotten-tomatoes-minilm").classifier


@pytest.fixture(scope="module")
def test_images() -> tuple[list, torch.Tensor]:
    images, labels = load_fashion_mnist("test")
    return list(images[:8].numpy()), labels[:8]


def test_image_attributions_spread_each_patch_credit_over_its_pixels(vit, test_images) -> None:
    images, labels = test_images
    adapter = RoutingAttribution(vit, method="contribution")
    pixels = adapter.preprocess(images)  # [B, C, H, W]
    attributions = adapter.attribute(pixels, target=labels)
    assert attributions.shape == pixels.shape == (8, 1, 28, 28)

    explanation = vit.explain(pixels, method="contribution")  # every class: column = class index
    rows = torch.arange(8)
    credit = explanation.credit.sum(dim=2)[rows, :, labels]  # [B, P]
    # Totals kept: each image's attributions sum to its credit, and credit + bias is the score explained.
    torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), credit.sum(dim=1))
    torch.testing.assert_close(
        attributions.sum(dim=(1, 2, 3)) + explanation.bias[rows, labels], explanation.scores[rows, labels]
    )
    # The rule: every pixel of a 4 x 4 patch holds the patch's credit / 16.
    grid = credit.unflatten(-1, (7, 7))  # [B, r, c]
    torch.testing.assert_close(
        attributions[:, 0, 8:12, 20:24], (grid[:, 2, 5] / 16)[:, None, None].expand(8, 4, 4)
    )
    # The forward function is the classifier's scores of the same pixels.
    torch.testing.assert_close(adapter.forward_func(pixels), vit(images))


def test_target_as_captum_takes_it(vit, test_images) -> None:
    images, _ = test_images
    adapter = RoutingAttribution(vit, method="contribution")
    pixels = adapter.preprocess(images)
    predicted = vit(images).argmax(dim=-1)  # [B]
    by_default = adapter.attribute(pixels)
    torch.testing.assert_close(by_default, adapter.attribute(pixels, target=predicted))
    torch.testing.assert_close(by_default, adapter.attribute(pixels, target=predicted.tolist()))
    one = adapter.attribute(pixels, target=3)
    torch.testing.assert_close(one, adapter.attribute(pixels, target=[vit.labels[3]] * 8))
    with pytest.raises(ValueError, match="2 classes for 8 samples"):
        adapter.attribute(pixels, target=[0, 1])


def _delete_patches(black: torch.Tensor):
    """A Captum perturbation: each 4 x 4 patch set to black with probability 1/4; the perturbation is the
    indicator of the deleted pixels, so `perturbation . attributions` is the credit deleted."""

    def perturb(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deleted = (torch.rand(pixels.shape[0], 1, 7, 7) < 0.25).float()  # [B, 1, r, c]
        mask = (
            deleted.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1).expand_as(pixels)
        )  # [B C H W]
        return mask, pixels * (1 - mask) + black * mask

    return perturb


def test_captum_infidelity_runs_and_contribution_lrp_beats_random(vit, test_images) -> None:
    images, labels = test_images
    adapter = RoutingAttribution(vit, method="contribution_lrp")
    pixels = adapter.preprocess(images)
    attributions = adapter.attribute(pixels, target=labels)
    random = torch.randn(pixels.shape, generator=torch.Generator().manual_seed(0))  # [B, C, H, W]
    perturb = _delete_patches(adapter.preprocess([images[0] * 0])[0])

    def infidelity_of(values: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(0)  # the same deletions for both
        return infidelity(
            adapter.forward_func, perturb, pixels, values, target=labels, n_perturb_samples=32, normalize=True
        )  # [B]

    ours, theirs = infidelity_of(attributions), infidelity_of(random)
    assert ours.shape == (8,) and bool(torch.isfinite(ours).all())
    # Normalised (each attribution at its best scale), so a random map is not penalised for its scale.
    assert ours.mean() < theirs.mean()


def test_text_attributions_are_per_token(minilm) -> None:
    texts = ["A fine, moving film.", "Dull and far too long, a waste of everybody's time."]
    adapter = RoutingAttribution(minilm, method="contribution")
    ids = adapter.preprocess(texts)  # [B, T]
    tokenizer = minilm.backbone.tokenizer
    pad = ids == tokenizer.pad_token_id  # [B, T]
    assert ids.dtype == torch.long and bool(pad[0].any()) and not bool(pad[1].any())
    torch.testing.assert_close(adapter.forward_func(ids), minilm(texts))

    attributions = adapter.attribute(ids, target=1)
    assert attributions.shape == ids.shape
    assert bool((attributions[pad] == 0).all())
    explanation = minilm.explain(texts, target=1)
    torch.testing.assert_close(attributions, explanation.per_position(1))
    torch.testing.assert_close(attributions.sum(-1) + explanation.bias[:, 0], explanation.scores[:, 1])

    def delete_tokens(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each word piece replaced by padding (so masked out) with probability 1/4."""
        special = torch.isin(batch, torch.tensor(tokenizer.all_special_ids))  # [CLS], [SEP], [PAD] stay
        deleted = (torch.rand(batch.shape) < 0.25) & ~special  # [B, T]
        return deleted.float(), batch.masked_fill(deleted, tokenizer.pad_token_id)

    torch.manual_seed(0)
    values = infidelity(adapter.forward_func, delete_tokens, ids, attributions, target=1, n_perturb_samples=8)
    assert values.shape == (2,) and bool(torch.isfinite(values).all())


def test_a_text_longer_than_one_window_is_refused(minilm) -> None:
    adapter = RoutingAttribution(minilm)
    with pytest.raises(ValueError, match="more than the model's window"):
        adapter.preprocess(["word " * 600])
