"""The explanation methods of `Classifier.explain`: what each map means and how it is computed.

- `paper`: the credit of phi composed with Appendix A's sequential recipe (Heinsen 2022): how much each hidden
  state's vote counts in the scores. What the paper defines and draws; not how much the state moves a score.
- `contribution`: each hidden state's exact contribution to each score with phi and norms held
  (`contributions.py`), at the positions the head reads; one forward pass, no gradients.
- `contribution_rollout`: those contributions carried to the input positions along each depth's attention
  rollout (`carry.by_rollout`); one forward pass, no gradients.
- `contribution_lrp`: carried to the input (pixels, or word embeddings) by gradient x input through the
  backbone with attention, norm statistics and activations held (`held.py`, `carry.by_gradient`); one forward
  and one (batched) backward pass. Its bias also holds the backbone's biases and position embeddings.

Every method gives `credit [B, n_pos, d_depth, n_sel]`, additive over positions and depths. For the
contribution methods, `credit` summed over positions and depths plus `bias [B, n_sel]` is the score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from creditlens.routing import HeadOutput

from .carry import by_gradient, by_rollout
from .contributions import head_contributions
from .encoding import Encoding, TokenPositions
from .held import held_statistics

METHODS: dict[str, str] = {
    "paper": "the paper's credit of phi (Appendix A, sequential): how much each hidden state's vote counts",
    "contribution": "exact contribution of each hidden state to the score (phi and norms held)",
    "contribution_rollout": "exact contributions carried to the input positions along the attention rollout",
    "contribution_lrp": "exact contributions carried to the input (pixels or word embeddings) by one backward "
    "pass with attention, norm statistics and activations held",
}


@dataclass(frozen=True)
class MethodCredit:
    """What a method computed for a batch: the encoding, the head's output, credit and bias."""

    encoding: Encoding
    out: HeadOutput
    selected: torch.Tensor
    credit: torch.Tensor  # [B, n_pos, d_depth, n_sel]
    bias: torch.Tensor | None  # [B, n_sel]


def method_line(method: str, default: str, faithfulness: str) -> str:
    """One line for a figure's reader: the method shown and how faithful it measured on the model.

    Args:
        method: the method shown.
        default: the model's default method (the one its `faithfulness` line is about).
        faithfulness: the model's stored line on how faithful `default` measured.
    """
    if method == default:
        return f"method: {method}, {METHODS[method]}. {faithfulness}"
    return f"method: {method}, {METHODS[method]}; this model's default is {default}, the most faithful as measured"


# What an input-level method needs of a backbone beyond `encode` (VisionBackbone and TextBackbone have both).
_NEEDS = {
    "contribution_rollout": ("attention_maps", "embedding_offset"),
    "contribution_lrp": ("input_leaf", "leaf_rows", "embedding_offset"),
}


def check_method(method: str, backbone: Any = None) -> None:
    """A one-line error for an unknown method, or for an input-level one on a backbone without what it needs
    (attention maps for the rollout, a differentiable input for the backward pass)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}.")
    missing = [
        name for name in _NEEDS.get(method, ()) if backbone is not None and not hasattr(backbone, name)
    ]
    if missing:
        raise ValueError(
            f"method {method!r} needs a backbone with {', '.join(missing)} ({type(backbone).__name__} has "
            "none); methods that apply: paper, contribution."
        )


def compute_credit(
    classifier: Any, inputs: Any, method: str, select: Callable[[torch.Tensor], torch.Tensor]
) -> MethodCredit:
    """Run `method` on a batch; `select(scores)` gives the `[n_sel]` classes to explain."""
    check_method(method, classifier.backbone)
    if method not in _NEEDS:
        with torch.no_grad():
            encoding = classifier.encode(inputs)
            out, selected, contrib = _head(classifier, encoding, select, method != "paper", False)
            if method == "paper":
                credit = _paper_credit(classifier, encoding, out, selected)
                return MethodCredit(encoding, out, selected, credit, None)
        return MethodCredit(encoding, out, selected, contrib.values, contrib.bias)
    backbone = classifier.backbone
    if method == "contribution_rollout":
        with torch.no_grad(), backbone.attention_maps() as maps:
            encoding = classifier.for_head(backbone.encode(inputs))
        _one_window(encoding, method)
        with torch.no_grad():
            out, selected, contrib = _head(classifier, encoding, select, True, False)
            credit = by_rollout(contrib.values, maps)  # [Bqlm]
        return MethodCredit(encoding, out, selected, credit, contrib.bias)
    with torch.enable_grad(), held_statistics(), backbone.input_leaf() as taken:
        encoding = classifier.for_head(backbone.encode(inputs))
    _one_window(encoding, method)
    states = encoding.hidden_states
    detached = Encoding(states.detach(), encoding.pad_mask, encoding.positions)
    with torch.no_grad():
        out, selected, contrib = _head(classifier, detached, select, True, True)
    g = contrib.grad  # [B, p, l, m, d]
    n_depth, n_sel = g.shape[2], g.shape[3]
    # Each depth's contributions carried on their own (a backward pass from that depth's states, through the
    # blocks below it only), all explained classes at once.
    rows = []
    for k in range(n_depth):
        sources = g[:, :, k].movedim(2, 0).to(states.dtype)  # [m B p d]
        products = by_gradient(states[:, :, k], taken[0], sources, retain_graph=k < n_depth - 1)
        rows.append(backbone.leaf_rows(products))  # [m B r]
    rows = torch.stack(rows)  # [l m B r]
    offset = backbone.embedding_offset
    credit = g.new_zeros(states.shape[0], states.shape[1], n_depth, n_sel)  # [Bplm]
    credit[:, offset : offset + rows.shape[-1]] = rows.permute(2, 3, 0, 1)
    if encoding.pad_mask is not None:
        credit = credit.masked_fill(encoding.pad_mask[..., None, None], 0.0)
    bias = out.scores.index_select(-1, selected.to(out.scores.device)) - credit.sum((1, 2))  # [Bm]
    return MethodCredit(detached, out, selected, credit, bias)


def _head(
    classifier: Any, encoding: Encoding, select: Callable, contributions: bool, grad: bool
) -> tuple[HeadOutput, torch.Tensor, Any]:
    """The head's output, the selected classes and (optionally) their contributions."""
    head = classifier.head
    out = head.forward_with_phi(encoding.hidden_states, encoding.pad_mask)
    selected = select(out.scores)  # [m]
    if not contributions:
        return out, selected, None
    contrib = head_contributions(head, encoding.hidden_states, out, encoding.pad_mask, selected, grad=grad)
    return out, selected, contrib


def _paper_credit(
    classifier: Any, encoding: Encoding, out: HeadOutput, selected: torch.Tensor
) -> torch.Tensor:
    from .classifier import end_to_end_credit

    credit = end_to_end_credit(out, encoding.pad_mask, classifier.head.d_depth)  # [bpln]
    if len(selected) < classifier.head.n_classes:  # selecting all would copy the largest tensor for nothing
        credit = credit.index_select(-1, selected.to(credit.device))  # [bpln]
    return credit


def _one_window(encoding: Encoding, method: str) -> None:
    """Input-level methods carry credit through one encoder pass per text: a longer text is an error."""
    positions = encoding.positions
    if isinstance(positions, TokenPositions) and bool((positions.chunk > 0).any()):
        raise ValueError(
            f"method {method!r} carries credit through the encoder, which saw a text in several windows; "
            "shorten it to one window, or use method='contribution' (any length)."
        )
