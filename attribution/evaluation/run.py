"""Evaluate routing credit and baselines on one classifier: batched protocols, sanity checks, one result.

`evaluate` runs every method on the same inputs, explained class (the predicted one) and seed, and averages
each protocol's per-sample curves and scores over the samples.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from ..classifier import Classifier
from .curves import trapezoid, trapezoid_auc
from .methods import Method, methods_for
from .probes import ImageProbe, TextProbe, make_probe
from .protocols import (
    IMAGE_PROTOCOL,
    PERTURBATION_FRACTIONS,
    TEXT_K_PERCENT,
    TEXT_MORF_FRACTIONS,
    TEXT_PROTOCOL,
    image_curves,
    text_curves,
)
from .sanity import RANDOMISATION_PASS_BELOW, class_selectivity, randomisation_curve

# Lower is better for these metrics; higher for the others (the sanity metrics are read separately).
LOWER_IS_BETTER = ("deletion_auc", "positive_perturbation", "morf_auc", "sufficiency")


@dataclass
class EvaluationResult:
    """Scores of every method on one model.

    Attributes:
        model: the model's name.
        task: `"image"` or `"text"`.
        n: number of samples evaluated.
        protocol: every protocol parameter.
        results: `{method: {metric: value}}`.
        curves: `{method: {curve: mean curve as a list}}` with `x` for each curve in `curve_x`.
        curve_x: `{curve: x values}`.
    """

    model: str
    task: str
    n: int
    protocol: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    curve_x: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """`{"model", "n", "protocol", "results"}` plus `task`, `curves` and `curve_x`."""
        return {
            "model": self.model,
            "task": self.task,
            "n": self.n,
            "protocol": self.protocol,
            "results": self.results,
            "curves": self.curves,
            "curve_x": self.curve_x,
        }


def evaluate(
    classifier: Classifier,
    inputs: Sequence[Any] | torch.Tensor,
    labels: torch.Tensor,
    *,
    model_name: str = "model",
    methods: list[str] | None = None,
    batch_size: int = 50,
    sanity_samples: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> EvaluationResult:
    """Faithfulness of routing credit and baselines on a classifier.

    Args:
        classifier: a classifier on a `VisionBackbone` or a `TextBackbone`.
        inputs: `uint8` images `[N, H, W]` (or a list of images), or a list of `N` texts.
        labels: `[N]` true classes.
        model_name: the name written in the result.
        methods: method names (see `METHODS`); default: every method that applies to the task.
        batch_size: samples per batch.
        sanity_samples: samples (from the start) on which the randomisation and selectivity checks run.
        seed: seed of the random map and of the randomised heads.
        progress: show a progress bar over batches.

    Returns:
        An `EvaluationResult`.
    """
    labels = torch.as_tensor(labels)
    if len(inputs) != len(labels):
        raise ValueError(f"got {len(inputs)} inputs but {len(labels)} labels.")
    if len(inputs) == 0:
        raise ValueError("no inputs to evaluate: give at least one sample.")
    if batch_size < 1 or sanity_samples < 1:
        raise ValueError("batch_size and sanity_samples must be at least 1.")
    probe = make_probe(classifier)
    chosen = methods_for(probe.task, methods)
    _check_installed(chosen)
    protocol = dict(IMAGE_PROTOCOL if probe.task == "image" else TEXT_PROTOCOL)
    protocol.update(
        {
            "methods": {m.name: m.description for m in chosen},
            "batch_size": batch_size,
            "seed": seed,
            "randomisation": "cascading from the last routing of the head to the first, fresh initial "
            f"parameters; Spearman rank correlation with the original map over the units; passes below "
            f"{RANDOMISATION_PASS_BELOW}; on the first {min(sanity_samples, len(labels))} samples",
            "class_selectivity": "Spearman rank correlation of the maps for each sample's top two classes "
            f"(lower: more selective); on the first {min(sanity_samples, len(labels))} samples",
        }
    )
    result = EvaluationResult(model_name, probe.task, len(labels), protocol)
    per_sample: dict[str, dict[str, list[torch.Tensor]]] = {m.name: {} for m in chosen}
    seconds = dict.fromkeys(per_sample, 0.0)
    starts = range(0, len(labels), batch_size)
    generator = torch.Generator().manual_seed(seed)
    # The bar counts samples x methods, so it moves after each method on each batch.
    bar = tqdm(
        total=len(labels) * len(chosen), desc=f"evaluating {model_name}", unit="map", disable=not progress
    )
    for start in starts:
        batch = probe.batch(inputs[start : start + batch_size], labels[start : start + batch_size])
        with torch.no_grad():
            classes = probe.scores(batch).argmax(-1)  # [b]
        for method in chosen:
            bar.set_postfix_str(method.name)
            tick = time.perf_counter()
            relevance = method.fn(probe, batch, classes, generator)  # [bp]
            seconds[method.name] += time.perf_counter() - tick
            run = image_curves if isinstance(probe, ImageProbe) else text_curves
            for name, curve in run(probe, batch, relevance, classes).items():
                per_sample[method.name].setdefault(name, []).append(curve)
            bar.update(len(batch))
    bar.close()
    sanity = probe.batch(inputs[:sanity_samples], labels[:sanity_samples])
    with torch.no_grad():
        sanity_classes = probe.scores(sanity).argmax(-1)  # [b]
    for method in chosen:
        curves = {name: torch.cat(parts) for name, parts in per_sample[method.name].items()}
        result.curves[method.name] = {name: c.mean(0).tolist() for name, c in curves.items()}
        scores = _image_scores(curves) if isinstance(probe, ImageProbe) else _text_scores(curves)
        randomised = randomisation_curve(method, probe, sanity, sanity_classes, seed)
        scores["randomisation_spearman"] = randomised[-1]
        scores["randomisation_spearman_per_stage"] = randomised
        scores["randomisation_pass"] = randomised[-1] < RANDOMISATION_PASS_BELOW
        scores["class_selectivity"] = class_selectivity(method, probe, sanity, seed)
        scores["ms_per_sample"] = 1000 * seconds[method.name] / len(labels)
        result.results[method.name] = scores
    result.curve_x = _curve_x(result, probe)
    return result


def _image_scores(curves: dict[str, torch.Tensor]) -> dict[str, Any]:
    x = torch.tensor(PERTURBATION_FRACTIONS, dtype=torch.float64)
    morf, lerf = trapezoid_auc(curves["morf"]).mean(), trapezoid_auc(curves["lerf"]).mean()
    return {
        "deletion_auc": float(trapezoid_auc(curves["deletion"]).mean()),
        "insertion_auc": float(trapezoid_auc(curves["insertion"]).mean()),
        "positive_perturbation": float(100 * trapezoid(curves["positive"].mean(0), x)),
        "negative_perturbation": float(100 * trapezoid(curves["negative"].mean(0), x)),
        "morf_auc": float(morf),
        "lerf_auc": float(lerf),
        "morf_lerf_area": float(lerf - morf),
    }


def _text_scores(curves: dict[str, torch.Tensor]) -> dict[str, Any]:
    morf, lerf = trapezoid_auc(curves["morf"]).mean(), trapezoid_auc(curves["lerf"]).mean()
    return {
        "comprehensiveness": float(curves["comprehensiveness"].mean()),
        "sufficiency": float(curves["sufficiency"].mean()),
        "morf_auc": float(morf),
        "lerf_auc": float(lerf),
        "morf_lerf_area": float(lerf - morf),
    }


def _curve_x(result: EvaluationResult, probe: ImageProbe | TextProbe) -> dict[str, list[float]]:
    """The x value of every point of every curve: fraction of units removed (or inserted), or k in %."""
    first = next(iter(result.curves.values()))
    if isinstance(probe, TextProbe):
        fractions = list(TEXT_MORF_FRACTIONS)
        return {"comprehensiveness": list(TEXT_K_PERCENT), "sufficiency": list(TEXT_K_PERCENT)} | {
            "morf": fractions,
            "lerf": fractions,
        }
    n = len(first["deletion"])
    steps = [i / (n - 1) for i in range(n)]
    x = {name: steps for name in ("deletion", "insertion", "morf", "lerf")}
    return x | {"positive": list(PERTURBATION_FRACTIONS), "negative": list(PERTURBATION_FRACTIONS)}


def _check_installed(methods: list[Method]) -> None:
    """A clear error for a method whose package is missing."""
    import importlib.util

    modules = {"captum": "captum", "grad-cam": "pytorch_grad_cam"}
    for method in methods:
        if method.needs and importlib.util.find_spec(modules[method.needs]) is None:
            raise ModuleNotFoundError(
                f"method {method.name!r} needs the {method.needs} package: pip install 'creditlens[eval]' "
                f"(or leave {method.name} out of --methods)."
            )
