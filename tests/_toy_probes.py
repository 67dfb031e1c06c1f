"""Constructed models with a known answer, wrapped as evaluation probes (for unit tests of the protocols)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from creditlens.attribution import PatchPositions
from creditlens.attribution.evaluation import Batch, ImageProbe, TextProbe


class OnePatchModel(nn.Module):
    """Class 0's logit is `gain` times the sum of patch `target`'s embedding; class 1's is 0.5.

    Pixels `[B, 1, 8, 8]` form a 2x2 grid of 4x4 patches; the patch embedding `[B, 4, d]` is each patch's
    pixel sum plus `bias`, repeated `d` times (a strided convolution); `norm1` of the one block passes the
    embeddings on.
    """

    def __init__(self, target: int, gain: float = 1.0, d: int = 3, bias: float = 0.0) -> None:
        super().__init__()
        self.target, self.gain = target, gain
        conv = nn.Conv2d(1, d, kernel_size=4, stride=4)
        with torch.no_grad():
            conv.weight.fill_(1.0)
            conv.bias.fill_(bias)
        self.patch_embed = nn.Sequential(conv, nn.Flatten(2), _Transpose())
        self.blocks = nn.ModuleList([nn.Module()])
        self.blocks[0].norm1 = nn.Identity()
        self.requires_grad_(False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        tokens = self.blocks[0].norm1(self.patch_embed(pixels))  # [B, 4, d]
        score = self.gain * tokens[:, self.target].sum(-1)  # [B]
        return torch.stack([score, torch.full_like(score, 0.5)], dim=-1)  # [B, 2]


class _Transpose(nn.Module):
    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.transpose(1, 2)


class ToyImageProbe(ImageProbe):
    """An `ImageProbe` over `OnePatchModel` (no routing head: scores come from the model directly)."""

    def __init__(self, model: OnePatchModel) -> None:
        self.model = model
        self.positions = PatchPositions(0, (2, 2))
        self.patch_size = (4, 4)
        self.backbone = SimpleNamespace(model=model)
        self.classifier = SimpleNamespace(backbone=model)

    def scores(self, batch: Batch) -> torch.Tensor:
        return self.model(batch.inputs)

    @staticmethod
    def batch_of(pixels: torch.Tensor, labels: list[int]) -> Batch:
        units = torch.ones(len(pixels), 4, dtype=torch.bool)
        return Batch(pixels, units, None, torch.tensor(labels), {})


class OneTokenProbe(TextProbe):
    """A `TextProbe` whose class 0 logit is `gain` times the number of `target` tokens in the text.

    Token ids index a one-dimensional embedding that is 1 on `target` and 0 elsewhere; id 0 is padding,
    ids 1 and 2 are the special tokens that start and end each sequence.
    """

    def __init__(self, target: int, vocab: int = 20, gain: float = 2.0) -> None:
        self.embedding = nn.Embedding(vocab, 1)
        with torch.no_grad():
            self.embedding.weight.zero_()
            self.embedding.weight[target] = 1.0
        self.gain = gain
        self.tokenizer = SimpleNamespace(pad_token_id=0)

    @property
    def embedding_layer(self) -> nn.Module:
        return self.embedding

    def scores(self, batch: Batch) -> torch.Tensor:
        embedded = self.embedding(batch.inputs)[..., 0] * batch.extra["attention_mask"]  # [B, n]
        score = self.gain * embedded.sum(-1)
        return torch.stack([score, -score], dim=-1)

    @staticmethod
    def batch_of(ids: list[list[int]], labels: list[int]) -> Batch:
        """Sequences of content ids, each wrapped in the special ids 1 and 2 and right-padded with 0."""
        n = max(len(s) for s in ids) + 2
        inputs = torch.zeros(len(ids), n, dtype=torch.long)
        mask = torch.zeros(len(ids), n, dtype=torch.long)
        units = torch.zeros(len(ids), n, dtype=torch.bool)
        for i, seq in enumerate(ids):
            inputs[i, : len(seq) + 2] = torch.tensor([1, *seq, 2])
            mask[i, : len(seq) + 2] = 1
            units[i, 1 : len(seq) + 1] = True
        pad_mask = ~mask.bool()
        return Batch(
            inputs,
            units,
            pad_mask if pad_mask.any() else None,
            torch.tensor(labels),
            {"attention_mask": mask},
        )
