"""Explanations: a classifier's scores with the end-to-end credit of every position at every depth.

The credit is the Appendix A chain (Heinsen 2022) of a routing head's three credit matrices, `[B, n_pos *
d_depth, n_classes]`, reshaped position-major to `[B, n_pos, d_depth, n_sel]` for the explained classes.
Views sum it over groups of inputs (depths, positions, patches, sentences); credit is additive over inputs,
so a group's credit is the sum of its members'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from creditlens.routing import HeadOutput

from .encoding import PatchPositions, TokenPositions
from .labels import class_index

ClassArg = int | str | None


class TopK(NamedTuple):
    """The k highest-scoring classes of each sample.

    Attributes:
        indices: `[B, k]` class indices, best first.
        probs: `[B, k]` their probabilities.
        names: per sample, the k class names.
    """

    indices: torch.Tensor
    probs: torch.Tensor
    names: list[list[str]]


@dataclass(frozen=True)
class Explanation:
    """Scores and end-to-end credit of a batch, with what each position is.

    Views take a class `cls` by index, by name, or None for each sample's own top class.

    Attributes:
        scores: `[B, n_classes]` class scores (logits).
        labels: the `n_classes` class names.
        classes: `[n_sel]` index of the class of each credit column.
        credit: `[B, n_pos, d_depth, n_sel]` credit of each position at each depth for each explained class
            (zero on padding).
        positions: what each position is (`PatchPositions` or `TokenPositions`).
        head: the routing head's output: scores, the credit `phis` of its three routings and the last
            routing's `votes`, with `scores == (head.phis[-1] * head.votes).sum(-2)`.
        method: the method that made `credit` (see `Classifier.explain`).
        bias: for the contribution methods, `[B, n_sel]` what is not any position's: `credit` summed over
            positions and depths plus `bias` is each explained score. None for `paper`.
    """

    scores: torch.Tensor
    labels: tuple[str, ...]
    classes: torch.Tensor
    credit: torch.Tensor
    positions: PatchPositions | TokenPositions
    head: HeadOutput
    method: str = "paper"
    bias: torch.Tensor | None = None

    @property
    def probs(self) -> torch.Tensor:
        """`[B, n_classes]` class probabilities (softmax of the scores)."""
        return self.scores.softmax(dim=-1)

    @property
    def predicted(self) -> torch.Tensor:
        """`[B]` index of each sample's top class."""
        return self.scores.argmax(dim=-1)

    @property
    def hidden(self) -> torch.Tensor:
        """`[B, n_pos]` bool, True on positions not shown (prefix, special and padding tokens)."""
        hidden = self.positions.hidden.to(self.credit.device)
        return hidden.expand(self.credit.shape[0], -1) if hidden.dim() == 1 else hidden  # [bp]

    def class_index(self, cls: int | str) -> int:
        """The index of a class given by index or name (a ValueError lists the valid names if unknown)."""
        return class_index(self.labels, cls)

    def top_k(self, k: int = 5) -> TopK:
        """The `k` most probable classes of each sample."""
        k = min(k, len(self.labels))
        probs, indices = self.probs.topk(k, dim=-1)  # [bk], [bk]
        names = [[self.labels[i] for i in row] for row in indices.tolist()]
        return TopK(indices, probs, names)

    def credit_of(self, cls: ClassArg = None) -> torch.Tensor:
        """`[B, n_pos, d_depth]` credit of every position at every depth for one class."""
        columns = self._columns(cls)  # [b]
        index = columns.view(-1, 1, 1, 1).expand(*self.credit.shape[:-1], 1)  # [bpl1]
        return self.credit.gather(-1, index).squeeze(-1)  # [bpl]

    def per_position(self, cls: ClassArg = None) -> torch.Tensor:
        """`[B, n_pos]` credit of each position, summed over depths."""
        return self.credit_of(cls).sum(dim=-1)  # [bp]

    def per_depth(self, cls: ClassArg = None) -> torch.Tensor:
        """`[B, d_depth]` credit of each depth, summed over all positions (hidden ones included)."""
        return self.credit_of(cls).sum(dim=-2)  # [bl]

    def hidden_share(self, cls: ClassArg = None) -> torch.Tensor:
        """`[B]` share of the absolute credit (all depths) that falls on positions not shown.

        0 when a sample's credit is all zero.
        """
        magnitude = self.credit_of(cls).abs().sum(dim=-1)  # [bp]
        total = magnitude.sum(dim=-1)  # [b]
        on_hidden = (magnitude * self.hidden).sum(dim=-1)  # [b]
        return torch.where(total > 0, on_hidden / total.clamp(min=torch.finfo(total.dtype).tiny), 0.0)

    def _columns(self, cls: ClassArg) -> torch.Tensor:
        """`[B]` credit column of the class each sample is explained for."""
        batch = self.credit.shape[0]
        wanted = self.predicted if cls is None else torch.full((batch,), self.class_index(cls))  # [b]
        wanted = wanted.to(self.classes.device)
        match = wanted.unsqueeze(-1) == self.classes  # [bn]
        missing = sorted({int(c) for c in wanted[~match.any(dim=-1)]})
        if missing:
            names = ", ".join(f"{c} ({self.labels[c]!r})" for c in missing)
            raise ValueError(
                f"class {names} was not explained; pass target=None (all) or include it in target."
            )
        return match.int().argmax(dim=-1).to(self.credit.device)  # [b]


@dataclass(frozen=True)
class ImageExplanation(Explanation):
    """An `Explanation` of images: positions are prefix tokens, then patches row by row."""

    positions: PatchPositions

    def grid(self, cls: ClassArg = None, *, per_depth: bool = False) -> torch.Tensor:
        """Credit of each patch laid out as the image: `[B, rows, cols]` summed over depths, or
        `[B, d_depth, rows, cols]` with `per_depth=True`. Prefix tokens are left out (see `hidden_share`).
        """
        credit = self.credit_of(cls)  # [bpl]
        if per_depth:
            return self.positions.to_grid(credit.transpose(-2, -1))  # [blrc]
        return self.positions.to_grid(credit.sum(dim=-1))  # [brc]


@dataclass(frozen=True)
class TextExplanation(Explanation):
    """An `Explanation` of texts: positions are tokens (special tokens and padding included)."""

    positions: TokenPositions

    def sentences(self, sample: int) -> list[str]:
        """The sentences of one sample's text (split after `.`, `!` or `?`)."""
        text = self.positions.texts[sample]
        return [text[start:end] for start, end in self.positions.sentence_spans(sample)]

    def per_sentence(self, cls: ClassArg = None) -> list[torch.Tensor]:
        """Per sample, `[n_sentences]` credit of each sentence: the sum over its tokens and their depths.

        Special and padding tokens belong to no sentence (see `hidden_share`).
        """
        per_position = self.per_position(cls)  # [bp]
        sums = []
        for sample in range(per_position.shape[0]):
            index = self.positions.sentence_index(sample).to(per_position.device)  # [p]
            n_sent = len(self.positions.sentence_spans(sample))
            total = per_position.new_zeros(n_sent)  # [s]
            keep = index >= 0  # [p]
            sums.append(total.index_add(0, index[keep], per_position[sample, keep]))  # [s]
        return sums
