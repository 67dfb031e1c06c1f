"""What a backbone gives a routing head: hidden states of all depths and what each position is.

The paper's heads (Heinsen 2022, Section 4) route the hidden states `[..., n_pos, d_depth, d_emb]` of every
depth of a frozen transformer. To explain a prediction one also needs to know what each of the `n_pos`
positions stands for: a prefix token or an image patch (row, column), or a text token (its string and
character offsets), and which positions a person should not be shown (prefix, special and padding tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

# A sentence runs to its first run of . ! or ? followed by whitespace (or to the end of the text).
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)", flags=re.S)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans `(start, end)` of the sentences of `text`, split after `.`, `!` or `?`.

    A deliberately simple rule: a sentence ends with a run of `.!?` followed by whitespace or the end of the
    text. Whitespace between sentences belongs to none.
    """
    return [m.span() for m in _SENTENCE.finditer(text)]


@dataclass(frozen=True)
class PatchPositions:
    """Positions of a vision transformer: `num_prefix_tokens` prefix tokens, then patches row by row.

    Attributes:
        num_prefix_tokens: number of class, distillation and register tokens before the patches.
        grid_size: `(rows, cols)` of the patch grid.
    """

    num_prefix_tokens: int
    grid_size: tuple[int, int]

    @property
    def n_pos(self) -> int:
        """Number of positions: prefix tokens plus patches."""
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    @property
    def hidden(self) -> torch.Tensor:
        """`[n_pos]` bool, True on prefix tokens (positions that are not image patches)."""
        hidden = torch.zeros(self.n_pos, dtype=torch.bool)  # [p]
        hidden[: self.num_prefix_tokens] = True
        return hidden

    @property
    def row(self) -> torch.Tensor:
        """`[n_pos]` patch row of each position, -1 on prefix tokens."""
        return self._patch_index().div(self.grid_size[1], rounding_mode="floor").where(~self.hidden, -1)

    @property
    def col(self) -> torch.Tensor:
        """`[n_pos]` patch column of each position, -1 on prefix tokens."""
        return self._patch_index().remainder(self.grid_size[1]).where(~self.hidden, -1)

    def to_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Patch values `[..., n_pos]` as an image-shaped grid `[..., rows, cols]` (prefix tokens dropped)."""
        if values.shape[-1] != self.n_pos:
            raise ValueError(
                f"values must have n_pos={self.n_pos} in the last dim, got {tuple(values.shape)}."
            )
        return values[..., self.num_prefix_tokens :].unflatten(-1, self.grid_size)  # [...rc]

    def _patch_index(self) -> torch.Tensor:
        return torch.arange(self.n_pos) - self.num_prefix_tokens  # [p]


@dataclass(frozen=True)
class TokenPositions:
    """Positions of a text encoder's (chunked) token sequences, per sample.

    Attributes:
        texts: the `B` input texts.
        tokens: per sample, the tokenizer's token string at each of the `n_pos` positions ("" on padding).
        offsets: `[B, n_pos, 2]` character span `(start, end)` of each token in its text; `(0, 0)` on special
            and padding tokens.
        special_mask: `[B, n_pos]` bool, True on special tokens (such as `[CLS]`, `[SEP]`, `<s>`, `</s>`).
        pad_mask: `[B, n_pos]` bool, True on padding (positions beyond a sample's own tokens).
        chunk: `[B, n_pos]` index of the model-window chunk each position came from, -1 on padding.
    """

    texts: list[str]
    tokens: list[list[str]]
    offsets: torch.Tensor
    special_mask: torch.Tensor
    pad_mask: torch.Tensor
    chunk: torch.Tensor

    @property
    def n_pos(self) -> int:
        """Number of positions (the longest sample's, with the others padded)."""
        return self.pad_mask.shape[-1]

    @property
    def hidden(self) -> torch.Tensor:
        """`[B, n_pos]` bool, True on special and padding tokens."""
        return self.special_mask | self.pad_mask  # [bp]

    def token_text(self, sample: int, pos: int) -> str:
        """The characters of `texts[sample]` under a position's token ("" for special and padding tokens)."""
        start, end = self.offsets[sample, pos].tolist()
        return self.texts[sample][start:end]

    def sentence_spans(self, sample: int) -> list[tuple[int, int]]:
        """Character spans of the sentences of one sample's text (see `split_sentences`)."""
        return split_sentences(self.texts[sample])

    def sentence_index(self, sample: int) -> torch.Tensor:
        """`[n_pos]` index of the sentence each visible token falls in (-1 on special and padding tokens).

        A token belongs to the last sentence that starts at or before the token's first character, so every
        visible token belongs to exactly one sentence.
        """
        starts = torch.tensor([s for s, _ in self.sentence_spans(sample)], dtype=torch.long)  # [s]
        index = torch.searchsorted(starts, self.offsets[sample, :, 0].contiguous(), right=True) - 1  # [p]
        return index.clamp(min=0).where(~self.hidden[sample], -1)  # [p]


@dataclass(frozen=True)
class Encoding:
    """A backbone's output for a batch: what a `RoutingHead` routes, and what each position is.

    Attributes:
        hidden_states: `[B, n_pos, d_depth, d_emb]`: the embedding output and the output of every block.
        pad_mask: `[B, n_pos]` bool, True on padding, or None if no sample is padded.
        positions: a `PatchPositions` (images) or `TokenPositions` (texts).
    """

    hidden_states: torch.Tensor
    pad_mask: torch.Tensor | None
    positions: PatchPositions | TokenPositions
