"""A Captum-style view of `Classifier.explain`: a forward function on tensors and attributions shaped like them.

Captum's metrics (`captum.metrics.infidelity`, `sensitivity_max`) and Quantus's take a `forward_func` from an
input tensor to class scores, that tensor, and attributions of the same shape. `RoutingAttribution` gives
those three for a classifier and one of `Classifier.explain`'s methods:

- images: the tensor is the preprocessed pixels `[B, C, H, W]`; each patch's credit (summed over depths) is
  spread evenly over the patch's `C x ph x pw` input elements, so attributions summed over an image are the
  credit summed over its patches;
- texts: the tensor is the token ids `[B, T]` (one model window per text, padded with the tokenizer's pad
  id); the attribution of each token is its credit summed over depths, 0 on padding.

Shape letters: B samples, C channels, H x W pixels, r x c patches (ph x pw pixels each), T tokens, P positions
(prefix tokens and patches, or tokens), L depths, n explained classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from .classifier import Classifier
from .encoding import Encoding, PatchPositions, TokenPositions
from .explain_methods import check_method

Target = int | str | Sequence[int | str] | torch.Tensor | None


class RoutingAttribution:
    """Attributions of a classifier's scores by a creditlens method, in the form Captum's classes give.

    Args:
        classifier: a `Classifier` with a `VisionBackbone` (or any backbone with `preprocess` and patch
            positions) or a `TextBackbone`.
        method: a method of `Classifier.explain` (`"contribution"`, `"contribution_rollout"`,
            `"contribution_lrp"` or `"paper"`).

    Attributes:
        forward_func: preprocessed inputs (pixels `[B, C, H, W]` or token ids `[B, T]`) to class scores
            `[B, n_classes]`, as Captum's metrics call it. It runs without gradients (the backbone is frozen):
            perturbation metrics need none.

    Example:
        >>> from creditlens.attribution import load_model
        >>> classifier = load_model("fashion-mnist-vit").classifier
        >>> adapter = RoutingAttribution(classifier, method="contribution")
        >>> pixels = adapter.preprocess([torch.zeros(28, 28, dtype=torch.uint8).numpy()] * 2)
        >>> adapter.attribute(pixels, target=0).shape  # like pixels: [B, C, H, W]
        torch.Size([2, 1, 28, 28])
    """

    def __init__(self, classifier: Classifier, method: str = "contribution") -> None:
        check_method(method, classifier.backbone)
        self.classifier = classifier
        self.method = method
        # Texts (a backbone with a tokenizer, as `TextBackbone`): the same head on a backbone that takes token
        # ids, so that Captum's tensors go straight in.
        is_text = hasattr(classifier.backbone, "tokenizer")
        if not is_text and not hasattr(classifier.backbone, "preprocess"):
            raise TypeError(f"{type(classifier.backbone).__name__} has no preprocess(): images need one.")
        backbone = _TokenIds(classifier.backbone) if is_text else classifier.backbone
        self._model = Classifier(backbone, classifier.head, classifier.labels) if is_text else classifier

    @property
    def forward_func(self) -> nn.Module:
        """Class scores `[B, n_classes]` of preprocessed inputs (see the class's Attributes)."""
        return self._model

    def preprocess(self, inputs: Any) -> torch.Tensor:
        """The tensor the model takes: pixels `[B, C, H, W]` of images (PIL images, `uint8` arrays, or
        pixels already preprocessed), or token ids `[B, T]` of texts (a string or a list of strings)."""
        backbone = self.classifier.backbone
        if hasattr(backbone, "tokenizer"):
            return _token_ids(backbone, inputs)
        return backbone.preprocess(inputs)

    def attribute(self, inputs: torch.Tensor, target: Target = None) -> torch.Tensor:
        """Attributions shaped like `inputs`: each input element's share of the target class's credit.

        Images get their patch's credit (summed over depths) divided by the patch's number of input elements
        (`C * ph * pw`) on each of them, so the attributions of an image sum to its patches' credit;
        credit on prefix tokens (a class token) has no pixels and is left out. Texts get each token's credit
        (summed over depths), 0 on padding.

        Args:
            inputs: what `preprocess` returns: pixels `[B, C, H, W]` or token ids `[B, T]`.
            target: the class explained for each sample, as Captum takes it: one class for all (index or
                name), or one per sample (a sequence or a `[B]` tensor). Default: each sample's predicted
                class.

        Returns:
            `[B, C, H, W]` or `[B, T]` float attributions on `inputs`' device.
        """
        targets = self._targets(target, inputs.shape[0])  # [B] or None
        if targets is None:
            explanation = self._model.explain(inputs, top_k=1, method=self.method)
            targets = explanation.predicted.cpu()  # [B]
        else:
            explanation = self._model.explain(
                inputs, target=sorted(set(targets.tolist())), method=self.method
            )
        credit = explanation.credit.sum(dim=2)  # [B P n]: summed over depths
        columns = (targets.unsqueeze(-1) == explanation.classes.cpu()).int().argmax(dim=-1)  # [B]
        index = columns.to(credit.device).view(-1, 1, 1).expand(-1, credit.shape[1], 1)  # [B P 1]
        per_position = credit.gather(-1, index).squeeze(-1)  # [B P]
        positions = explanation.positions
        if isinstance(positions, PatchPositions):
            return _to_pixels(positions.to_grid(per_position), inputs.shape).to(inputs.device)
        return per_position.masked_fill(positions.pad_mask.to(per_position.device), 0.0).to(inputs.device)

    def _targets(self, target: Target, batch: int) -> torch.Tensor | None:
        """`[B]` class index of each sample, or None for each sample's predicted class."""
        if target is None:
            return None
        if isinstance(target, torch.Tensor):
            target = target.tolist()
        if isinstance(target, (int, str)):
            target = [target] * batch
        if len(target) != batch:
            raise ValueError(f"target has {len(target)} classes for {batch} samples: give one, or one each.")
        return torch.tensor([self.classifier.class_index(c) for c in target])  # [B]


def _to_pixels(grid: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Patch values `[B, r, c]` spread evenly over the input elements of their patches: `[B, C, H, W]`."""
    channels, height, width = shape[-3:]
    rows, cols = grid.shape[-2:]
    if height % rows or width % cols:
        raise ValueError(f"a {height}x{width} image does not split into a {rows}x{cols} patch grid evenly.")
    ph, pw = height // rows, width // cols
    per_element = grid / (channels * ph * pw)  # [B r c]: totals kept over each patch's elements
    pixels = per_element.repeat_interleave(ph, dim=-2).repeat_interleave(pw, dim=-1)  # [B H W]
    return pixels.unsqueeze(1).expand(-1, channels, -1, -1)  # [B C H W]


def _token_ids(backbone: nn.Module, texts: str | Sequence[str]) -> torch.Tensor:
    """`[B, T]` token ids of texts by a `TextBackbone`'s tokenizer, special tokens included, padded with the
    pad id; each text must fit in one model window (the encoder sees each row once, as it sees a short text)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("texts is empty: give at least one text.")
    ids = backbone.tokenizer(texts, padding=True, truncation=False, return_tensors="pt")["input_ids"]  # [B T]
    lengths = (ids != backbone.tokenizer.pad_token_id).sum(dim=-1)  # [B]
    for i, n in enumerate(lengths.tolist()):
        if n > backbone.max_length:
            raise ValueError(
                f"text {i} has {n} tokens, more than the model's window of {backbone.max_length}: shorten it "
                "(the adapter gives one window per text)."
            )
    return ids


class _TokenIds(nn.Module):
    """A `TextBackbone` that takes token ids `[B, T]` instead of texts: one encoder pass per row, the pad id
    marking padding. Delegates what the input-level methods need (input leaf, attention maps) to it."""

    def __init__(self, text: nn.Module) -> None:
        super().__init__()
        self.text = text
        self.d_depth = text.d_depth
        self.d_emb = text.d_emb

    @property
    def embedding_offset(self) -> int:
        """Position of the first token of `leaf_rows` (every position is a token)."""
        return self.text.embedding_offset

    def input_leaf(self) -> AbstractContextManager[list[torch.Tensor]]:
        """See `TextBackbone.input_leaf`."""
        return self.text.input_leaf()

    def leaf_rows(self, values: torch.Tensor) -> torch.Tensor:
        """See `TextBackbone.leaf_rows`."""
        return self.text.leaf_rows(values)

    def attention_maps(self) -> AbstractContextManager[list[torch.Tensor]]:
        """See `TextBackbone.attention_maps`."""
        return self.text.attention_maps()

    def encode(self, ids: torch.Tensor) -> Encoding:
        """Hidden states `[B, T, L, d_emb]` (zeros on padding) of token ids `[B, T]`, with their positions.

        The texts are the decoded ids and every token's character offsets are `(0, 0)`: the tensor does not
        carry the characters it came from.
        """
        tokenizer = self.text.tokenizer
        ids = ids.long().cpu()  # [B T]
        pad = ids == tokenizer.pad_token_id  # [B T]
        device = next(self.text.model.parameters()).device
        out = self.text.model(
            input_ids=ids.to(device), attention_mask=(~pad).long().to(device), output_hidden_states=True
        )
        hidden_states = torch.stack(out.hidden_states, dim=-2)  # [B T L d_emb]
        hidden_states = hidden_states.masked_fill(pad.to(device)[..., None, None], 0.0)
        special = torch.tensor(
            [tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in ids.tolist()],
            dtype=torch.bool,
        )  # [B T]
        tokens = [
            [token if not p else "" for token, p in zip(tokenizer.convert_ids_to_tokens(row), pads)]
            for row, pads in zip(ids.tolist(), pad.tolist())
        ]
        texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
        offsets = torch.zeros(*ids.shape, 2, dtype=torch.long)  # [B T 2]
        chunk = torch.zeros_like(ids).masked_fill(pad, -1)  # [B T]: one window per text
        positions = TokenPositions(texts, tokens, offsets, special & ~pad, pad, chunk)
        return Encoding(hidden_states, pad.to(device) if pad.any() else None, positions)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Hidden states `[B, T, L, d_emb]` of token ids `[B, T]` (see `encode`)."""
        return self.encode(ids).hidden_states
