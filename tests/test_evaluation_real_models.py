"""The evaluation on the bundled models: probes agree with the classifiers, the sanity checks separate a map
that explains the model from one that ignores it, and routing credit is the explanation's credit."""

from __future__ import annotations

import pytest
import torch

from creditlens.attribution import Classifier
from creditlens.attribution.data.datasets import load_fashion_mnist, rotten_tomatoes_splits
from creditlens.attribution.evaluation import (
    METHODS,
    ImageProbe,
    TextProbe,
    class_selectivity,
    make_probe,
    randomisation_curve,
    randomised_head,
)
from creditlens.attribution.zoo import load_model

TEXTS = ["A wonderful, moving film.", "Dull.", "The plot drags badly, but the cast is great fun to watch."]


@pytest.fixture(scope="module")
def vision() -> tuple[ImageProbe, object]:
    classifier = load_model("fashion-mnist-vit").classifier
    images, labels = load_fashion_mnist("test")
    probe = ImageProbe(classifier)
    return probe, probe.batch(images[:8], labels[:8])


@pytest.fixture(scope="module")
def text() -> tuple[TextProbe, object]:
    probe = TextProbe(load_model("rotten-tomatoes-minilm").classifier)
    return probe, probe.batch(TEXTS, torch.tensor([1, 0, 1]))


def test_image_probe_scores_equal_the_classifier(vision):
    probe, batch = vision
    images, _ = load_fashion_mnist("test")
    expected = probe.classifier([image.numpy() for image in images[:8]])
    assert torch.allclose(probe.scores(batch), expected, atol=1e-5)


def test_image_probe_removes_exactly_the_chosen_patches(vision):
    probe, batch = vision
    remove = torch.zeros_like(batch.units)
    remove[:, 0] = True  # the top-left 4x4 patch
    removed = probe.remove(batch, remove).inputs
    assert torch.equal(removed[:, :, :4, :4], torch.zeros_like(removed[:, :, :4, :4]))
    assert torch.equal(removed[:, :, 4:], batch.inputs[:, :, 4:])
    assert torch.equal(removed[:, :, :, 4:], batch.inputs[:, :, :, 4:])


def test_attention_maps_are_probabilities_and_the_fused_path_comes_back(vision):
    probe, batch = vision
    with torch.no_grad(), probe.attention_maps() as maps:
        probe.scores(batch)
    assert len(maps) == len(probe.backbone.model.blocks)
    assert torch.allclose(maps[0].sum(-1), torch.ones(()), atol=1e-5)
    assert all(block.attn.fused_attn for block in probe.backbone.model.blocks)


def test_text_probe_scores_equal_the_classifier_on_a_padded_batch(text):
    probe, batch = text
    assert batch.pad_mask is not None  # three lengths: the short texts are padded
    assert torch.allclose(probe.scores(batch), probe.classifier(TEXTS), atol=1e-5)
    with torch.no_grad(), probe.attention_maps() as maps:
        probe.scores(batch)
    assert len(maps) == probe.model.config.num_hidden_layers
    assert probe.model.config._attn_implementation != "eager"  # restored


def test_text_probe_deletes_tokens_and_scores_what_is_left(text):
    probe, batch = text
    remove = torch.zeros_like(batch.units)
    remove[0, 2] = True  # "wonderful" of the first text ([CLS] a wonderful ...)
    removed = probe.remove(batch, remove)
    original = batch.inputs[0][batch.extra["attention_mask"][0].bool()].tolist()
    assert (
        removed.inputs[0][removed.extra["attention_mask"][0].bool()].tolist() == original[:2] + original[3:]
    )
    alone = probe.tokenizer.decode(original[1:2] + original[3:-1])
    assert torch.allclose(probe.scores(removed)[0], probe.classifier([alone])[0], atol=1e-5)


def test_text_longer_than_the_window_and_other_backbones_are_refused(text):
    probe, _ = text
    with pytest.raises(ValueError, match="must fit in one window"):
        probe.batch(["word " * 2000], torch.tensor([0]))
    with pytest.raises(TypeError, match="VisionBackbone or a TextBackbone"):
        make_probe(Classifier(_Other(), labels=["a", "b"], n_hid=2))


class _Other(torch.nn.Module):
    d_depth, d_emb = 2, 4

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def encode(self, inputs):  # pragma: no cover - never called
        raise AssertionError


def test_routing_method_is_the_explanation_credit_summed_over_depths(vision, text):
    for probe, batch, inputs in [(*vision, vision[1].inputs), (*text, TEXTS)]:
        classes = probe.scores(batch).argmax(-1)
        relevance = METHODS["routing"].fn(probe, batch, classes, torch.Generator())
        explanation = probe.classifier.explain(inputs, method="paper")
        per_position = explanation.credit.sum(-2)  # [B, n_pos, n_classes]
        expected = per_position[torch.arange(len(classes)), :, classes]  # [B, n_pos]
        assert torch.allclose(relevance, expected, atol=1e-6)


def test_randomisation_fails_an_edge_detector_and_passes_routing_credit(vision):
    probe, batch = vision
    classes = probe.scores(batch).argmax(-1)
    before = {k: v.clone() for k, v in probe.head.state_dict().items()}
    edges = randomisation_curve(METHODS["edges"], probe, batch, classes, seed=0)
    routing = randomisation_curve(METHODS["routing"], probe, batch, classes, seed=0)
    assert edges == pytest.approx([1.0, 1.0, 1.0])  # blind to the model: the map never changes
    assert routing[-1] < 0.5  # the routing credit falls apart with the head it explains
    after = probe.head.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the head is restored


def test_randomised_head_replaces_the_top_routings_only(vision):
    probe, _ = vision
    before = {k: v.clone() for k, v in probe.head.state_dict().items()}
    with randomised_head(probe, 1, seed=0):
        now = probe.head.state_dict()
        assert not torch.equal(now["route.2.W_A"], before["route.2.W_A"])
        assert torch.equal(now["route.1.W_A"], before["route.1.W_A"])


def test_class_selectivity_separates_class_maps_from_class_blind_ones(vision):
    probe, batch = vision
    assert class_selectivity(METHODS["rollout"], probe, batch, seed=0) == pytest.approx(1.0)
    assert class_selectivity(METHODS["routing"], probe, batch, seed=0) < 0.9


def test_rotten_tomatoes_test_snippets_fit_one_window(text):
    probe, _ = text
    texts = [t for t, _ in rotten_tomatoes_splits()["test"]]
    lengths = [len(ids) for ids in probe.tokenizer(texts)["input_ids"]]
    assert max(lengths) <= probe.backbone.max_length
