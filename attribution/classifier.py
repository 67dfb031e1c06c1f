"""Classifiers: a frozen backbone, the paper's routing head and class names, explained in one forward pass.

The head (Heinsen 2022, Section 4) routes the hidden states of every depth to class scores; its three
credit matrices chain into end-to-end credit with Appendix A's sequential recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from creditlens.routing import HeadOutput, RoutingHead

from .encoding import Encoding, PatchPositions
from .explanation import Explanation, ImageExplanation, TextExplanation
from .labels import check_labels, class_index
from .recipes import sequential


@runtime_checkable
class Backbone(Protocol):
    """What a classifier needs of a backbone (`VisionBackbone` and `TextBackbone` are two)."""

    d_depth: int
    d_emb: int

    def encode(self, inputs: Any) -> Encoding: ...


class Classifier(nn.Module):
    """A frozen backbone with a `RoutingHead` on the hidden states of all its depths, and class names.

    Args:
        backbone: a `VisionBackbone`, a `TextBackbone`, or any module with `d_depth`, `d_emb` and
            `encode(inputs) -> Encoding`.
        head: the routing head. Default: a new `RoutingHead(backbone.d_depth, backbone.d_emb, len(labels),
            n_hid)`.
        labels: one name per class. Default: `class_0, class_1, ...` (then `head` is required).
        n_hid: hidden routing size of a new head.

    Example:
        >>> from creditlens.attribution import VisionBackbone
        >>> backbone = VisionBackbone("vit_tiny_patch16_224", depth=2, img_size=32, patch_size=8)
        >>> classifier = Classifier(backbone, labels=["cat", "dog", "bird"], n_hid=8)
        >>> explanation = classifier.explain(torch.randn(2, 3, 32, 32))
        >>> explanation.credit.shape  # [B, n_pos, d_depth, n_classes]
        torch.Size([2, 17, 3, 3])
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: RoutingHead | None = None,
        labels: Sequence[str] | None = None,
        *,
        n_hid: int = 64,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(
                f"{type(backbone).__name__} is not a backbone: it needs d_depth, d_emb and encode()."
            )
        if head is None:
            if labels is None:
                raise ValueError("give labels (one per class) or a head.")
            param = next(backbone.parameters(), None)
            kw = {} if param is None else {"device": param.device}
            head = RoutingHead(backbone.d_depth, backbone.d_emb, len(labels), n_hid=n_hid, **kw)
        if (head.d_depth, head.d_emb) != (backbone.d_depth, backbone.d_emb):
            raise ValueError(
                f"the head takes d_depth={head.d_depth}, d_emb={head.d_emb}, but the backbone gives "
                f"d_depth={backbone.d_depth}, d_emb={backbone.d_emb}."
            )
        if labels is None:
            labels = [f"class_{i}" for i in range(head.n_classes)]
        self.backbone = backbone
        self.head = head
        self.labels = check_labels(labels, head.n_classes)

    def class_index(self, cls: int | str) -> int:
        """The index of a class given by index or name (a ValueError lists the valid names if unknown)."""
        return class_index(self.labels, cls)

    def encode(self, inputs: Any) -> Encoding:
        """The backbone's hidden states of a batch (under `torch.no_grad`: the backbone is frozen)."""
        with torch.no_grad():
            return self.for_head(self.backbone.encode(inputs))

    def for_head(self, encoding: Encoding) -> Encoding:
        """The backbone's encoding on the head's device and in its precision (differentiable)."""
        head_param = next(self.head.parameters())
        hidden_states = encoding.hidden_states.to(device=head_param.device, dtype=head_param.dtype)
        pad_mask = None if encoding.pad_mask is None else encoding.pad_mask.to(head_param.device)
        return Encoding(hidden_states, pad_mask, encoding.positions)

    def forward(self, inputs: Any) -> torch.Tensor:
        """Class scores `[B, n_classes]` of images or texts (whatever the backbone's `encode` takes)."""
        encoding = self.encode(inputs)
        return self.head(encoding.hidden_states, encoding.pad_mask)

    def explain(
        self,
        inputs: Any,
        target: int | str | Sequence[int | str] | None = None,
        *,
        top_k: int | None = None,
        method: str = "contribution",
    ) -> Explanation:
        """Scores and the credit of every position at every depth for the explained classes.

        Args:
            inputs: what the backbone's `encode` takes: images (PIL, uint8 arrays, or preprocessed pixels
                `[B, C, H, W]`) or texts (a string or a list of strings).
            target: the class or classes to explain, by index or name (Captum's name for it). Default: all
                classes.
            top_k: instead of `target`, explain the union of each sample's `top_k` classes.
            method: what the credit is (see `explain_methods.METHODS`): `"contribution"` (default; each
                hidden state's exact share of the score, one forward pass), `"contribution_rollout"` and
                `"contribution_lrp"` (carried to the input positions), or `"paper"` (the paper's credit of
                phi).

        Returns:
            An `ImageExplanation` or a `TextExplanation` (per the backbone's positions) whose `credit` is
            `[B, n_pos, d_depth, n_sel]`; for the contribution methods, `credit` summed over positions and
            depths plus `bias` is each explained score.
        """
        from .explain_methods import compute_credit

        result = compute_credit(self, inputs, method, lambda scores: self._select(scores, target, top_k))
        kind = ImageExplanation if isinstance(result.encoding.positions, PatchPositions) else TextExplanation
        return kind(
            result.out.scores, self.labels, result.selected, result.credit, result.encoding.positions,
            result.out, method, result.bias,
        )  # fmt: skip

    def _select(
        self, scores: torch.Tensor, target: int | str | Sequence[int | str] | None, top_k: int | None
    ) -> torch.Tensor:
        """`[n_sel]` sorted indices of the classes to explain."""
        if target is not None and top_k is not None:
            raise ValueError("give target or top_k, not both.")
        if top_k is not None:
            if not 1 <= top_k <= len(self.labels):
                raise ValueError(f"top_k must be in 1..{len(self.labels)}, got {top_k}.")
            return scores.topk(top_k, dim=-1).indices.flatten().unique().cpu()  # [n]
        if target is None:
            return torch.arange(len(self.labels))  # [n]
        if isinstance(target, (int, str)):
            target = [target]
        if len(target) == 0:
            raise ValueError("target is empty: give at least one class, or None for all.")
        return torch.tensor(sorted({self.class_index(c) for c in target}))  # [n]


def end_to_end_credit(out: HeadOutput, pad_mask: torch.Tensor | None, d_depth: int) -> torch.Tensor:
    """`[B, n_pos, d_depth, n_classes]` end-to-end credit of a head's output (Appendix A, sequential).

    Scaling is per sample. With padding, each sample's chain runs over its own positions only, so its
    credit is what it would get alone (padding rows have zero credit but would change the scaling).

    Args:
        out: a `RoutingHead.forward_with_phi` result with `phis` `[B, n_pos * d_depth, n_hid]`, `[B, n_hid,
            n_hid]`, `[B, n_hid, n_classes]`.
        pad_mask: `[B, n_pos]` bool, True on padding, or None.
        d_depth: number of depths per position.
    """
    phis = out.phis
    if pad_mask is None or not bool(pad_mask.any()):
        credit = sequential(phis)  # [bin]
    else:
        row_pad = pad_mask.repeat_interleave(d_depth, dim=-1)  # [bi]
        credit = phis[0].new_zeros(*phis[0].shape[:-1], phis[-1].shape[-1])  # [bin]
        for b in range(credit.shape[0]):
            keep = ~row_pad[b]  # [i]
            credit[b, keep] = sequential([phis[0][b, keep], *(phi[b] for phi in phis[1:])])  # [in]
    return credit.unflatten(-2, (credit.shape[-2] // d_depth, d_depth))  # [bpln]
