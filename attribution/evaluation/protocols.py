"""Faithfulness protocols: remove (or insert) the positions a map ranks first, and watch the class score.

Images (patch maps; one patch per step): deletion and insertion (Petsiuk et al. 2018), positive and negative
perturbation (Chefer et al. 2021), and the token-space MoRF/LeRF curves (Achtibat et al. 2024) that zero
input embeddings. Texts: comprehensiveness and sufficiency (DeYoung et al. 2020) and MoRF/LeRF.
`IMAGE_PROTOCOL` and `TEXT_PROTOCOL` state every parameter; the evaluation prints them beside the scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace

import torch

from .probes import Batch, ImageProbe, Probe, TextProbe

PERTURBATION_FRACTIONS = tuple(i / 10 for i in range(10))  # 0, 0.1, ..., 0.9
TEXT_K_PERCENT = (1, 5, 10, 20, 50)
TEXT_MORF_FRACTIONS = tuple(i / 10 for i in range(11))  # 0, 0.1, ..., 1
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0
STEP_BATCH = 1000  # images per forward pass when perturbation steps are batched together

IMAGE_PROTOCOL = {
    "explained_class": "the model's predicted class",
    "unit": "patch",
    "deletion": "most relevant patch first, one patch per step; removed pixels = 0 in normalised pixels "
    "(the dataset's mean colour); y = softmax probability of the class; area by the trapezoid rule on [0, 1]",
    "insertion": f"start from a Gaussian blur (kernel {BLUR_KERNEL}, sigma {BLUR_SIGMA:g}) of the image; insert "
    "original patches most relevant first, one per step; y = softmax probability; trapezoid area on [0, 1]",
    "perturbation": "positive: most relevant patches removed first, negative: least relevant first; removed "
    "pixels = 0 in normalised pixels; y = top-1 accuracy against the true label at fractions "
    f"{list(PERTURBATION_FRACTIONS)}; score = 100 * trapz(y, x)",
    "morf_lerf": "zero the patch embeddings (patch_embed output) most relevant first (MoRF) or least relevant "
    "first (LeRF), one patch per step; y = class logit; area = trapezoid on [0, 1]; morf_lerf_area = "
    "lerf_auc - morf_auc",
}
TEXT_PROTOCOL = {
    "explained_class": "the model's predicted class",
    "unit": "token (special tokens and padding never removed)",
    "comprehensiveness": f"mean over k in {list(TEXT_K_PERCENT)}% of the tokens (at least 1) of p(c|x) - "
    "p(c|x without its top-k tokens); tokens are deleted from the sequence",
    "sufficiency": "mean over the same k of p(c|x) - p(c|only its top-k tokens)",
    "morf_lerf": "zero the word embeddings of the most (MoRF) or least (LeRF) relevant tokens at fractions "
    f"{list(TEXT_MORF_FRACTIONS)} of the tokens; y = class logit; area = trapezoid on [0, 1]; "
    "morf_lerf_area = lerf_auc - morf_auc",
}


def unit_ranks(relevance: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """`[B, n_pos]` rank of each unit by decreasing relevance (0 = most relevant); `n_pos` on other positions.

    Ties keep position order, so a constant map removes units left to right.
    """
    n_pos = relevance.shape[-1]
    scores = relevance.float().masked_fill(~units, -math.inf)  # [bp]
    order = scores.argsort(dim=-1, descending=True, stable=True)  # [bp]
    ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(n_pos).expand_as(order))  # [bp]
    return ranks.masked_fill(~units, n_pos)


def image_curves(
    probe: ImageProbe, batch: Batch, relevance: torch.Tensor, classes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-sample curves of the image protocols: `deletion`, `insertion`, `morf`, `lerf` `[B, n_units + 1]`,
    `positive`, `negative` `[B, len(PERTURBATION_FRACTIONS)]`."""
    ranks = unit_ranks(relevance, batch.units)  # [bp]
    reverse = unit_ranks(-relevance.float(), batch.units)  # [bp]
    n_units = int(batch.units[0].sum())
    # Imported here, not at the top: the `creditlens` command imports this module at start-up.
    from torchvision.transforms.functional import gaussian_blur

    blurred = gaussian_blur(batch.inputs, [BLUR_KERNEL, BLUR_KERNEL], [BLUR_SIGMA, BLUR_SIGMA])  # [bchw]
    steps = torch.arange(n_units + 1).view(-1, 1, 1)  # [s11]
    counts = torch.tensor([round(f * n_units) for f in PERTURBATION_FRACTIONS]).view(-1, 1, 1)  # [f11]

    def deleted(removed: torch.Tensor) -> torch.Tensor:
        return probe.remove(batch, removed).inputs

    def inserted(removed: torch.Tensor) -> torch.Tensor:
        return probe.remove(batch, ~removed, blurred).inputs

    classes = classes.view(1, -1, 1)
    probs = {
        "deletion": _over_steps(probe, batch, ranks < steps, deleted).softmax(-1),
        "insertion": _over_steps(probe, batch, ranks < steps, inserted).softmax(-1),
    }
    curves = {name: p.gather(-1, classes.expand(len(p), -1, 1)).squeeze(-1).T for name, p in probs.items()}
    for name, order in (("morf", ranks), ("lerf", reverse)):
        logits = _over_steps(probe, batch, order < steps, None)  # [sbn]
        curves[name] = logits.gather(-1, classes.expand(len(logits), -1, 1)).squeeze(-1).T  # [bs]
    for name, order in (("positive", ranks), ("negative", reverse)):
        predicted = _over_steps(probe, batch, order < counts, deleted).argmax(-1)  # [fb]
        curves[name] = (predicted == batch.labels).double().T  # [bf]
    return curves


def text_curves(
    probe: TextProbe, batch: Batch, relevance: torch.Tensor, classes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-sample curves of the text protocols: `comprehensiveness`, `sufficiency` `[B, len(TEXT_K_PERCENT)]`
    (probability drops at each k), `morf`, `lerf` `[B, len(TEXT_MORF_FRACTIONS)]` (class logits)."""
    ranks = unit_ranks(relevance, batch.units)  # [bp]
    reverse = unit_ranks(-relevance.float(), batch.units)  # [bp]
    n_units = batch.units.sum(-1, keepdim=True)  # [b1]
    full = _class_prob(probe, batch, classes)  # [b]
    curves: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("comprehensiveness", "sufficiency", "morf", "lerf")
    }
    for k in TEXT_K_PERCENT:
        top = ranks < (n_units * k / 100).ceil().clamp(min=1)  # [bp]
        curves["comprehensiveness"].append(full - _class_prob(probe, probe.remove(batch, top), classes))
        curves["sufficiency"].append(
            full - _class_prob(probe, probe.remove(batch, batch.units & ~top), classes)
        )
    for fraction in TEXT_MORF_FRACTIONS:
        count = (n_units * fraction).round()  # [b1]
        curves["morf"].append(_zeroed_logit(probe, batch, ranks < count, classes))
        curves["lerf"].append(_zeroed_logit(probe, batch, reverse < count, classes))
    return {name: torch.stack(points, dim=-1) for name, points in curves.items()}


def _over_steps(
    probe: ImageProbe,
    batch: Batch,
    masks: torch.Tensor,
    perturb: Callable[[torch.Tensor], torch.Tensor] | None,
) -> torch.Tensor:
    """Class scores `[n_steps, B, n_classes]` of the batch perturbed at each step by `masks` `[n_steps, B,
    n_pos]`: `perturb(mask)` gives the step's pixels, or with None the masked input embeddings are zeroed.
    Several steps share a forward pass (up to `STEP_BATCH` samples), since small batches waste the CPU."""
    per_forward = max(1, STEP_BATCH // len(batch))
    out = []
    for first in range(0, len(masks), per_forward):
        group = masks[first : first + per_forward]  # [gbp]
        if perturb is None:
            inputs = batch.inputs.repeat(len(group), 1, 1, 1)
            context = probe.zeroed(group.flatten(0, 1))
        else:
            inputs = torch.cat([perturb(mask) for mask in group])
            context = nullcontext()
        with torch.no_grad(), context:
            scores = probe.scores(replace(batch, inputs=inputs))  # [(g b) n]
        out.append(scores.double().unflatten(0, (len(group), len(batch))))
    return torch.cat(out)


def _class_prob(probe: Probe, batch: Batch, classes: torch.Tensor) -> torch.Tensor:
    """`[B]` softmax probability of each sample's class."""
    return probe.probs(batch).double().gather(-1, classes.view(-1, 1)).squeeze(-1)


def _zeroed_logit(probe: Probe, batch: Batch, drop: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """`[B]` class logit with the input embeddings of the `drop` `[B, n_pos]` positions zeroed."""
    with torch.no_grad(), probe.zeroed(drop):
        scores = probe.scores(batch)  # [bn]
    return scores.double().gather(-1, classes.view(-1, 1)).squeeze(-1)
