"""Relevance maps of a batch for one class per sample, by routing credit and by the baselines.

Each method maps `(probe, batch, classes, generator)` to `[B, n_pos]` relevance (higher: more important for
the class); the protocols rank only the `batch.units` positions. Gradient baselines differentiate the class
score (logit) of the same classifier; embedding-level ones (input x gradient, Integrated Gradients) sum over
the input embedding of each position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..carry import by_gradient, by_rollout, output_leaf
from ..classifier import end_to_end_credit
from ..contributions import Contributions, head_contributions
from ..held import held_statistics
from .attention_methods import credit_through_rollout, grad_rollout, last_attention, rollout
from .probes import Batch, ImageProbe, Probe

MapFn = Callable[[Probe, Batch, torch.Tensor, torch.Generator], torch.Tensor]
IG_STEPS = 50


@dataclass(frozen=True)
class Method:
    """A named relevance method.

    Attributes:
        name: the name used in tables and on the command line.
        description: what it computes, for the printed protocol.
        tasks: the tasks it applies to (`"image"`, `"text"`).
        fn: the map function.
        needs: the pip package it needs beyond creditlens's own dependencies, or "".
    """

    name: str
    description: str
    tasks: tuple[str, ...]
    fn: MapFn
    needs: str = ""


def routing_credit(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """End-to-end routing credit of each position, summed over depths (one forward pass, no gradients)."""
    with torch.no_grad():
        out = probe.head.forward_with_phi(probe.hidden_states(batch), batch.pad_mask)
        credit = end_to_end_credit(out, batch.pad_mask, probe.head.d_depth)  # [bpln]
    return _take_class(credit.sum(-2), classes)  # [bp]


def routing_rollout(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """End-to-end routing credit of every depth carried back to the input positions along the attention
    rollout (one forward pass, no gradients): a deep state's credit goes to the inputs it mixes."""
    with torch.no_grad(), probe.attention_maps() as maps:
        out = probe.head.forward_with_phi(probe.hidden_states(batch), batch.pad_mask)
        credit = end_to_end_credit(out, batch.pad_mask, probe.head.d_depth)  # [bpln]
    return credit_through_rollout(_take_class(credit, classes), [m.float() for m in maps])


def contribution_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Exact contribution of each position's hidden states (all depths) to the class score, phi and norms
    held (one forward pass, no gradients)."""
    with torch.no_grad():
        states = probe.hidden_states(batch)
        contrib = _contributions(probe, batch, states, classes, grad=False)
    return contrib.values.sum(-2).squeeze(-1)  # [bp]


def contribution_rollout_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Exact contributions of every depth carried to the input positions along the attention rollout (one
    forward pass, no gradients)."""
    with torch.no_grad(), probe.attention_maps() as maps:
        states = probe.hidden_states(batch)
        contrib = _contributions(probe, batch, states, classes, grad=False)
        return by_rollout(contrib.values, maps).sum(-2).squeeze(-1)  # [bp]


def contribution_lrp_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Exact contributions carried to the input: gradient x input (pixels or word embeddings) through the
    backbone with attention, norm statistics and MLP activation ratios held, from the head's held gradient
    (one forward, one backward pass)."""
    backbone = probe.classifier.backbone
    with torch.enable_grad(), held_statistics(), backbone.input_leaf() as taken:
        states = probe.hidden_states(batch)
    with torch.no_grad():
        contrib = _contributions(probe, batch, states.detach(), classes, grad=True)
    sources = contrib.grad.squeeze(-2).unsqueeze(0)  # [1bpld]
    rows = backbone.leaf_rows(by_gradient(states, taken[0], sources.to(states.dtype))[0])  # [br]
    return _place_rows(probe, batch, rows)


def random_map(probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform random relevance: the floor every method should beat."""
    return torch.rand(batch.units.shape, generator=generator)  # [bp]


def rollout_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Attention rollout over all blocks (one forward pass; the same map for every class)."""
    return rollout(_attention(probe, batch), _readout(batch))


def last_attention_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Head-averaged attention of the last block (one forward pass; the same map for every class)."""
    return last_attention(_attention(probe, batch), _readout(batch))


def grad_rollout_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Gradient-weighted attention rollout (Chefer et al. 2021; one forward and one backward pass)."""
    with torch.enable_grad(), output_leaf(probe.embedding_layer), probe.attention_maps() as maps:
        score = _take_class(probe.scores(batch), classes).sum()
        grads = torch.autograd.grad(score, maps)
    return grad_rollout([m.detach() for m in maps], grads, _readout(batch))


def input_x_gradient(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Input embedding times the gradient of the class score, summed over each position's embedding."""
    with torch.enable_grad(), output_leaf(probe.embedding_layer) as taken:
        score = _take_class(probe.scores(batch), classes).sum()
        (grad,) = torch.autograd.grad(score, taken)
    return _place_rows(probe, batch, (taken[0].detach() * grad).sum(-1))


def integrated_gradients(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Integrated Gradients (Captum, 50 steps) on the input embedding, from the embedding of a blank input
    (zero pixels, the mean colour; or every non-special token replaced by the pad token), summed per
    position."""
    from captum.attr import LayerIntegratedGradients

    keys = list(batch.extra)

    def forward(inputs: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return probe.scores(_with_inputs(batch, inputs, dict(zip(keys, extra))))

    if isinstance(probe, ImageProbe):
        baseline = torch.zeros_like(batch.inputs)
    else:
        baseline = batch.inputs.masked_fill(batch.units, probe.tokenizer.pad_token_id or 0)
    explainer = LayerIntegratedGradients(forward, probe.embedding_layer)
    with torch.enable_grad():
        attributions = explainer.attribute(
            batch.inputs,
            baselines=baseline,
            target=classes.tolist(),
            additional_forward_args=tuple(batch.extra[k] for k in keys),
            n_steps=IG_STEPS,
            internal_batch_size=len(batch) * 10,
        )
    return _place_rows(probe, batch, attributions.detach().float().sum(-1))


def gradcam_map(
    probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Grad-CAM (the grad-cam package) on the first norm of the last block, tokens reshaped to the patch
    grid; the input-sized map is averaged over each patch."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if not isinstance(probe, ImageProbe):
        raise TypeError("Grad-CAM needs a patch grid: it applies to image models only.")
    rows, cols = probe.positions.grid_size
    prefix = probe.positions.num_prefix_tokens

    def to_grid(tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, prefix:].unflatten(1, (rows, cols)).permute(0, 3, 1, 2)  # [B, d, rows, cols]

    model = _ScoresModule(probe, batch)
    with torch.enable_grad(), GradCAM(model, [probe.backbone.model.blocks[-1].norm1], to_grid) as cam:
        pixels = batch.inputs.detach().requires_grad_(True)  # the weights are frozen: grads need this
        maps = cam(pixels, targets=[ClassifierOutputTarget(int(c)) for c in classes])  # [B, H, W]
    patches = F.avg_pool2d(torch.from_numpy(maps).float().unsqueeze(1), probe.patch_size).flatten(
        1
    )  # [B, rows * cols]
    return F.pad(patches, (prefix, 0))  # [bp]


def edge_map(probe: Probe, batch: Batch, classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sobel edge strength per patch: a map of the image alone, blind to the model (a sanity-check foil)."""
    if not isinstance(probe, ImageProbe):
        raise TypeError("the edge map applies to image models only.")
    gray = batch.inputs.float().mean(1, keepdim=True)  # [b1hw]
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([sobel, sobel.T]).unsqueeze(1)  # [2, 1, 3, 3]
    strength = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels).norm(dim=1, keepdim=True)
    patches = F.avg_pool2d(strength, probe.patch_size).flatten(1)  # [B, rows * cols]
    return F.pad(patches, (probe.positions.num_prefix_tokens, 0))  # [bp]


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("routing", "end-to-end routing credit, summed over depths", ("image", "text"), routing_credit),
        Method(
            "routing_rollout",
            "routing credit of each depth carried to the inputs along the attention rollout",
            ("image", "text"),
            routing_rollout,
        ),
        Method(
            "contribution",
            "exact contribution of each position's hidden states (phi and norms held), summed over depths",
            ("image", "text"),
            contribution_map,
        ),
        Method(
            "contribution_rollout",
            "exact contributions of each depth carried to the inputs along the attention rollout",
            ("image", "text"),
            contribution_rollout_map,
        ),
        Method(
            "contribution_lrp",
            "exact contributions carried to the input (pixels or word embeddings) by gradient x input, "
            "attention, norm statistics and activations held",
            ("image", "text"),
            contribution_lrp_map,
        ),
        Method("random", "uniform random relevance", ("image", "text"), random_map),
        Method("rollout", "attention rollout (0.5 A + 0.5 I)", ("image", "text"), rollout_map),
        Method(
            "raw_attention", "last-block attention, mean over heads", ("image", "text"), last_attention_map
        ),
        Method(
            "grad_rollout", "gradient-weighted rollout (Chefer 2021)", ("image", "text"), grad_rollout_map
        ),
        Method("input_x_gradient", "input embedding x gradient", ("image", "text"), input_x_gradient),
        Method(
            "integrated_gradients",
            f"Captum Integrated Gradients, {IG_STEPS} steps, on the input embedding",
            ("image", "text"),
            integrated_gradients,
            needs="captum",
        ),
        Method("gradcam", "Grad-CAM on the last block's norm1", ("image",), gradcam_map, needs="grad-cam"),
        Method("edges", "Sobel edge strength (ignores the model)", ("image",), edge_map),
    ]
}


def methods_for(task: str, names: list[str] | None = None) -> list[Method]:
    """The methods to run on a task: `names` in order (checked), or every method that applies."""
    if names is None:
        return [m for m in METHODS.values() if task in m.tasks]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; known methods: {', '.join(METHODS)}.")
    wrong = [n for n in names if task not in METHODS[n].tasks]
    if wrong:
        raise ValueError(f"method {wrong[0]!r} does not apply to {task} models.")
    return [METHODS[n] for n in dict.fromkeys(names)]


class _ScoresModule(nn.Module):
    """The class scores of pixels as a module (what the grad-cam package drives)."""

    def __init__(self, probe: Probe, batch: Batch) -> None:
        super().__init__()
        self.probe, self.batch = probe, batch
        self.backbone = probe.classifier.backbone  # registered, so grad-cam finds its layers and device

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.probe.scores(_with_inputs(self.batch, pixels, self.batch.extra))


def _with_inputs(batch: Batch, inputs: torch.Tensor, extra: dict[str, torch.Tensor]) -> Batch:
    """`batch` with other inputs (Captum repeats each sample once per integration step)."""
    pad_mask = None
    if "attention_mask" in extra:
        pad_mask = ~extra["attention_mask"].bool()
        pad_mask = pad_mask if pad_mask.any() else None
    return replace(batch, inputs=inputs, extra=extra, pad_mask=pad_mask)


def _contributions(
    probe: Probe, batch: Batch, states: torch.Tensor, classes: torch.Tensor, grad: bool
) -> Contributions:
    """The head's contributions for each sample's own class: `values [B, n_pos, d_depth, 1]`."""
    head = probe.head
    out = head.forward_with_phi(states, batch.pad_mask)
    return head_contributions(head, states, out, batch.pad_mask, target=classes, grad=grad)


def _take_class(values: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """`values[b, ..., classes[b]]`: `[B, ..., n_classes]` -> `[B, ...]`."""
    index = classes.to(values.device).view(-1, *([1] * (values.dim() - 1)))
    return values.gather(-1, index.expand(*values.shape[:-1], 1)).squeeze(-1)


def _attention(probe: Probe, batch: Batch) -> list[torch.Tensor]:
    """Each block's attention probabilities `[B, n_heads, n_pos, n_pos]` of one forward pass, as float32."""
    with torch.no_grad(), probe.attention_maps() as maps:
        probe.scores(batch)
    return [m.float() for m in maps]


def _readout(batch: Batch) -> torch.Tensor:
    """Query rows a routing head reads: every real position, equally."""
    real = torch.ones_like(batch.units) if batch.pad_mask is None else ~batch.pad_mask  # [bp]
    return real.float()


def _place_rows(probe: Probe, batch: Batch, rows: torch.Tensor) -> torch.Tensor:
    """Per-embedding-row values `[B, n_rows]` as per-position values `[B, n_pos]` (zero on prefix tokens)."""
    return F.pad(
        rows, (probe.embedding_offset, batch.units.shape[1] - probe.embedding_offset - rows.shape[1])
    )
