"""The A, F, G, S modules of the reference's DefinableVectorRouting case (`dvr_learned_memories`)."""

from __future__ import annotations

import torch
from torch import nn


class LearnedMemories(nn.Module):
    """F: a learned vote per input and output, `[n_inp, n_out, d_out]`, the same for every sample."""

    def __init__(self, n_inp: int, n_out: int, d_out: int) -> None:
        super().__init__()
        self.W_mem = nn.Parameter(torch.randn(n_inp, n_out, d_out))

    def forward(self, x_inp: torch.Tensor) -> torch.Tensor:
        return self.W_mem.expand(*x_inp.shape[:-2], -1, -1, -1)


class DotProductSimilarities(nn.Module):
    """S: scaled dot products of actual and predicted inputs, `[..., n_inp, n_out]`."""

    def forward(self, true_x_inp: torch.Tensor, pred_x_inp: torch.Tensor) -> torch.Tensor:
        return true_x_inp @ pred_x_inp.transpose(-2, -1) * true_x_inp.shape[-1] ** -0.5
