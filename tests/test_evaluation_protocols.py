"""The faithfulness metrics are right: hand-computed areas, and oracle maps on models with a known answer."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from creditlens.attribution.evaluation import image_curves, spearman, text_curves, trapezoid, trapezoid_auc
from creditlens.attribution.evaluation.protocols import unit_ranks
from creditlens.attribution.evaluation.run import _image_scores, _text_scores

from _toy_probes import OnePatchModel, OneTokenProbe, ToyImageProbe


def test_trapezoid_auc_matches_hand_computed_areas():
    # (sum(y) - y0/2 - y_last/2) / (n - 1): (1.5 - 0.5 - 0) / 2 and (2.5 - 0.1 - 0.5) / 3.
    assert float(trapezoid_auc(torch.tensor([1.0, 0.5, 0.0]))) == pytest.approx(0.5)
    assert float(trapezoid_auc(torch.tensor([0.2, 0.4, 0.9, 1.0]))) == pytest.approx(1.9 / 3)
    # Chefer's score: trapz over x = 0, 0.1, 0.2 of [1, 1, 0] is 0.1 + 0.05.
    x = torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64)
    assert float(trapezoid(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64), x)) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="at least 2 points"):
        trapezoid_auc(torch.tensor([1.0]))


def test_spearman_uses_mean_ranks_for_ties_and_ignores_masked_entries():
    a = torch.tensor([[1.0, 2.0, 2.0, 3.0, 100.0]])
    b = torch.tensor([[1.0, 2.0, 3.0, 4.0, -100.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    # Ranks (0, 1.5, 1.5, 3) and (0, 1, 2, 3): covariance 4.5, variances 4.5 and 5.
    assert float(spearman(a, b, mask)[0]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert float(spearman(b, -b)[0]) == pytest.approx(-1.0)
    assert float(spearman(a, torch.ones_like(a))[0]) == 0.0  # a constant map correlates with nothing


def test_unit_ranks_rank_units_only_most_relevant_first():
    relevance = torch.tensor([[0.1, 0.9, 0.5, 0.7]])
    units = torch.tensor([[False, True, True, True]])
    assert unit_ranks(relevance, units).tolist() == [[4, 0, 2, 1]]


def _image_probe_and_batch() -> tuple[ToyImageProbe, object]:
    probe = ToyImageProbe(OnePatchModel(target=2, gain=0.25))
    pixels = torch.zeros(1, 1, 8, 8)
    pixels[..., 4:, :4] = 1.0  # the target patch (row 1, col 0) is bright: class 0 wins
    return probe, probe.batch_of(pixels, [0])


def test_oracle_map_gets_the_best_image_scores_and_the_reversed_map_the_worst():
    probe, batch = _image_probe_and_batch()
    classes = torch.tensor([0])
    scores = {}
    for order in itertools.permutations(range(4)):
        relevance = torch.tensor([[4.0 - order.index(i) for i in range(4)]])  # order[0] most relevant
        scores[order] = _image_scores(image_curves(probe, batch, relevance, classes))
    oracle = next(o for o in scores if o[0] == 2)  # target first
    reversed_ = next(o for o in scores if o[-1] == 2)  # target last
    for metric, best in [
        ("deletion_auc", min),
        ("insertion_auc", max),
        ("positive_perturbation", min),
        ("negative_perturbation", max),
        ("morf_auc", min),
        ("morf_lerf_area", max),
    ]:
        values = [s[metric] for s in scores.values()]
        worst = max if best is min else min
        assert scores[oracle][metric] == pytest.approx(best(values)), metric
        assert scores[reversed_][metric] == pytest.approx(worst(values)), metric
        assert scores[oracle][metric] != pytest.approx(scores[reversed_][metric]), metric


def test_deletion_curve_of_the_oracle_map_is_the_hand_computed_one():
    probe, batch = _image_probe_and_batch()
    relevance = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    curves = image_curves(probe, batch, relevance, torch.tensor([0]))
    full = torch.tensor([12.0, 0.5]).softmax(0)[0]  # score 0.25 * 16 pixels * 3 dims; class 1 at 0.5
    gone = torch.tensor([0.0, 0.5]).softmax(0)[0]
    expected = torch.stack([full, gone, gone, gone, gone]).double()
    assert torch.allclose(curves["deletion"][0], expected)
    # Accuracy at 0, 0.1, ..., 0.9 of the 4 patches removed: the target goes at 0.2 (round(0.8) = 1).
    assert curves["positive"][0].tolist() == [1, 1] + [0] * 8
    assert curves["negative"][0].tolist() == [1] * 9 + [0]  # least relevant first: target last, at 0.9


def test_oracle_token_gets_the_best_text_scores_and_the_reversed_map_the_worst():
    probe = OneTokenProbe(target=5)
    batch = probe.batch_of([[3, 5, 4, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7]], [0, 0])
    classes = torch.tensor([0, 0])
    oracle = (batch.inputs == 5).float()
    reversed_ = batch.units.float() - oracle
    best = _text_scores(text_curves(probe, batch, oracle, classes))
    worst = _text_scores(text_curves(probe, batch, reversed_, classes))
    drop = float(torch.tensor([2.0, -2.0]).softmax(0)[0] - 0.5)  # p(c|x) - p(c|no target)
    assert best["comprehensiveness"] == pytest.approx(drop)
    assert best["sufficiency"] == pytest.approx(0.0, abs=1e-12)
    # The reversed map ranks the target last: at most half the tokens go, so it always stays.
    assert worst["sufficiency"] == pytest.approx(drop)
    assert worst["comprehensiveness"] == pytest.approx(0.0, abs=1e-12)
    assert best["morf_lerf_area"] > 0 > worst["morf_lerf_area"]
