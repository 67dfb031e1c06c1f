"""Probes: a classifier opened up for evaluation, with gradients, attention maps and perturbed inputs.

Every method and protocol sees a model through a probe: differentiable class scores of a batch, the hidden
states the routing head reads, the input-embedding layer (whose rows are zeroed to remove positions in token
space), and the attention probabilities of every block. `ImageProbe` wraps a classifier on a timm ViT,
`TextProbe` one on a Hugging Face encoder; both give scores equal to `Classifier.forward`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backbones.text import TextBackbone
from ..backbones.vision import VisionBackbone
from ..classifier import Classifier


@dataclass(frozen=True)
class Batch:
    """Inputs of a probe with what each position is.

    Attributes:
        inputs: preprocessed pixels `[B, C, H, W]` (images) or token ids `[B, n_pos]` (texts).
        units: `[B, n_pos]` bool, True on positions an explanation ranks and a protocol removes: image patches,
            or text tokens that are neither special nor padding.
        pad_mask: `[B, n_pos]` bool, True on padding, or None.
        labels: `[B]` true class of each sample.
        extra: further model inputs of the same batch (text: `attention_mask`, `token_type_ids`).
    """

    inputs: torch.Tensor
    units: torch.Tensor
    pad_mask: torch.Tensor | None
    labels: torch.Tensor
    extra: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


class Probe(ABC):
    """What the evaluation needs of a classifier; see `ImageProbe` and `TextProbe`."""

    task: str
    classifier: Classifier

    @property
    def head(self) -> nn.Module:
        """The routing head."""
        return self.classifier.head

    @property
    @abstractmethod
    def embedding_layer(self) -> nn.Module:
        """The module whose output `[B, n_rows, d]` is the input embedding of the transformer."""

    @property
    def embedding_offset(self) -> int:
        """Position of the first embedding row (rows map to positions `offset, offset + 1, ...`)."""
        return 0

    @property
    @abstractmethod
    def attention_modules(self) -> list[nn.Module]:
        """The attention module of each block, first to last."""

    @abstractmethod
    def hidden_states(self, batch: Batch) -> torch.Tensor:
        """Differentiable hidden states `[B, n_pos, d_depth, d_emb]` of a batch."""

    def scores(self, batch: Batch) -> torch.Tensor:
        """Differentiable class scores `[B, n_classes]` (no `torch.no_grad` inside)."""
        return self.head(self.hidden_states(batch), batch.pad_mask)

    def probs(self, batch: Batch) -> torch.Tensor:
        """Class probabilities `[B, n_classes]`, without gradients."""
        with torch.no_grad():
            return self.scores(batch).softmax(-1)

    @contextmanager
    def zeroed(self, drop: torch.Tensor) -> Iterator[None]:
        """Within the block, the input embeddings of positions where `drop` `[B, n_pos]` is True are zero."""
        rows = drop[:, self.embedding_offset :]  # [B, n_rows]

        def zero_rows(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            return output * (~rows).unsqueeze(-1).to(output.dtype)  # [B, n_rows, d]

        handle = self.embedding_layer.register_forward_hook(zero_rows)
        try:
            yield
        finally:
            handle.remove()

    @abstractmethod
    def attention_maps(self) -> AbstractContextManager[list[torch.Tensor]]:
        """A context that collects each block's attention probabilities `[B, n_heads, n_pos, n_pos]` of the
        forward passes run in it (first block first; each keeps its graph, so gradients can be taken with
        respect to it)."""

    @abstractmethod
    def remove(self, batch: Batch, remove: torch.Tensor, substrate: torch.Tensor | None = None) -> Batch:
        """The batch with the units where `remove` `[B, n_pos]` is True taken out of the input."""


class ImageProbe(Probe):
    """A classifier on a timm ViT (`VisionBackbone`), opened up for evaluation.

    Removing a patch replaces its pixels by a substrate: by default zeros of the normalised pixels (the
    dataset's mean colour).
    """

    task = "image"

    def __init__(self, classifier: Classifier) -> None:
        if not isinstance(classifier.backbone, VisionBackbone):
            raise TypeError(
                f"ImageProbe needs a classifier on a VisionBackbone, got {type(classifier.backbone).__name__}."
            )
        self.classifier = classifier
        self.backbone: VisionBackbone = classifier.backbone
        self.positions = self.backbone.positions
        patch = self.backbone.model.patch_embed.patch_size
        self.patch_size = (int(patch[0]), int(patch[1]))

    @property
    def embedding_layer(self) -> nn.Module:
        return self.backbone.model.patch_embed

    @property
    def embedding_offset(self) -> int:
        return self.positions.num_prefix_tokens

    @property
    def attention_modules(self) -> list[nn.Module]:
        return [block.attn for block in self.backbone.model.blocks]

    def batch(self, images: torch.Tensor | Sequence[Any], labels: torch.Tensor) -> Batch:
        """A batch of `uint8` images `[B, H, W]` (or `[B, H, W, C]`, or PIL images) with their labels."""
        if isinstance(images, torch.Tensor):
            images = [np.asarray(image) for image in images.cpu().numpy()]
        pixels = self.backbone.preprocess(images)  # [bchw]
        units = ~self.positions.hidden.expand(len(pixels), -1)  # [bp]
        return Batch(pixels, units, None, torch.as_tensor(labels), {})

    def hidden_states(self, batch: Batch) -> torch.Tensor:
        return self.backbone(batch.inputs)  # [bpld]

    def patch_mask(self, remove: torch.Tensor) -> torch.Tensor:
        """Per-position `remove` `[B, n_pos]` as a pixel mask `[B, 1, H, W]` (True on removed pixels)."""
        grid = self.positions.to_grid(remove.float())  # [B, rows, cols]
        pixels = grid.repeat_interleave(self.patch_size[0], -2).repeat_interleave(self.patch_size[1], -1)
        return pixels.unsqueeze(1).bool()  # [b1hw]

    def remove(self, batch: Batch, remove: torch.Tensor, substrate: torch.Tensor | None = None) -> Batch:
        mask = self.patch_mask(remove)  # [b1hw]
        fill = torch.zeros_like(batch.inputs) if substrate is None else substrate  # [bchw]
        return replace(batch, inputs=torch.where(mask, fill, batch.inputs))

    def attention_maps(self) -> AbstractContextManager[list[torch.Tensor]]:
        return self.backbone.attention_maps()


class TextProbe(Probe):
    """A classifier on a Hugging Face encoder (`TextBackbone`), opened up for evaluation.

    Each text must fit in one model window (the protocols remove tokens and re-run the encoder on what is
    left, which needs one token sequence per text). Removing tokens deletes them from the sequence.
    """

    task = "text"

    def __init__(self, classifier: Classifier) -> None:
        if not isinstance(classifier.backbone, TextBackbone):
            raise TypeError(
                f"TextProbe needs a classifier on a TextBackbone, got {type(classifier.backbone).__name__}."
            )
        self.classifier = classifier
        self.backbone: TextBackbone = classifier.backbone
        self.model = self.backbone.model
        self.tokenizer = self.backbone.tokenizer

    @property
    def embedding_layer(self) -> nn.Module:
        return self.backbone.embedding_layer

    @property
    def attention_modules(self) -> list[nn.Module]:
        return list(self.model.encoder.layer)

    def batch(self, texts: Sequence[str], labels: torch.Tensor) -> Batch:
        """A batch of texts with their labels; a text longer than the model's window is an error."""
        enc = self.tokenizer(list(texts), padding=True, return_special_tokens_mask=True, return_tensors="pt")
        too_long = (enc["attention_mask"].sum(-1) > self.backbone.max_length).nonzero().flatten().tolist()
        if too_long:
            raise ValueError(
                f"text {too_long[0]} has more than {self.backbone.max_length} tokens; the evaluation removes "
                "tokens and re-runs the encoder, so each text must fit in one window. Shorten it."
            )
        real = enc["attention_mask"].bool()  # [bp]
        units = real & ~enc["special_tokens_mask"].bool()  # [bp]
        if not units.any(-1).all():
            raise ValueError("every text needs at least one token besides special tokens.")
        extra = {"attention_mask": enc["attention_mask"]}
        if "token_type_ids" in enc:
            extra["token_type_ids"] = enc["token_type_ids"]
        pad_mask = ~real if not real.all() else None
        return Batch(enc["input_ids"], units, pad_mask, torch.as_tensor(labels), extra)

    def hidden_states(self, batch: Batch) -> torch.Tensor:
        out = self.model(input_ids=batch.inputs, **batch.extra, output_hidden_states=True)
        states = torch.stack(out.hidden_states, dim=-2)  # [bpld]
        return states * batch.extra["attention_mask"][..., None, None].to(states.dtype)  # zeros on padding

    def remove(self, batch: Batch, remove: torch.Tensor, substrate: torch.Tensor | None = None) -> Batch:
        """The batch with the tokens where `remove` is True deleted (special tokens stay)."""
        if substrate is not None:
            raise ValueError("texts have no substrate: removed tokens are deleted.")
        keep = batch.extra["attention_mask"].bool() & ~(remove & batch.units)  # [bp]
        n_keep = keep.sum(-1)  # [b]
        length = int(n_keep.max())
        order = (~keep).to(torch.int8).argsort(dim=-1, stable=True)[:, :length]  # kept positions first
        slots = torch.arange(length) < n_keep[:, None]  # [bq]
        pad_id = self.tokenizer.pad_token_id or 0

        def take(values: torch.Tensor, fill: int) -> torch.Tensor:
            return values.gather(1, order).masked_fill(~slots, fill)  # [bq]

        extra = {key: take(value, 0) for key, value in batch.extra.items()}
        extra["attention_mask"] = slots.long()
        return Batch(
            take(batch.inputs, pad_id),
            take(batch.units, 0).bool(),
            ~slots if not slots.all() else None,
            batch.labels,
            extra,
        )

    def attention_maps(self) -> AbstractContextManager[list[torch.Tensor]]:
        return self.backbone.attention_maps()


def make_probe(classifier: Classifier) -> ImageProbe | TextProbe:
    """The probe of a classifier: `ImageProbe` on a `VisionBackbone`, `TextProbe` on a `TextBackbone`."""
    if isinstance(classifier.backbone, VisionBackbone):
        return ImageProbe(classifier)
    if isinstance(classifier.backbone, TextBackbone):
        return TextProbe(classifier)
    raise TypeError(
        f"evaluation supports classifiers on a VisionBackbone or a TextBackbone, "
        f"got {type(classifier.backbone).__name__}."
    )
