"""RoutingHead: the classification head of "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022,
Section 4 and the paper's `models.py`), which routes the hidden states of every depth of a frozen transformer.

Its state_dict keys are the paper's (`W`, `B`, `route.0.*`, `route.1.*`, `route.2.*`), so the six published
head checkpoints load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .efficient import EfficientVectorRouting
from .output import VectorRoutingOutput
from .trace import is_observed


@dataclass(frozen=True)
class HeadOutput:
    """Scores of a `RoutingHead` with the credit of each of its routings.

    Attributes:
        scores: class scores `[..., n_classes]`.
        phis: credit of each routing in order: `[..., n_pos * d_depth, n_hid]`, `[..., n_hid, n_hid]`,
            `[..., n_hid, n_classes]`. Rows of the first are position-major (`row = pos * d_depth + depth`).
        votes: the last routing's vote of each hidden vector for each class, `[..., n_hid, n_classes]`, so that
            `scores == (phis[-1] * votes).sum(-2)`.
        outputs: each routing's full result (phi, the normalization's `std_out`, ...), in order; what
            `creditlens.attribution.head_contributions` holds fixed to split the scores exactly.
    """

    scores: torch.Tensor
    phis: list[torch.Tensor]
    votes: torch.Tensor
    outputs: tuple[VectorRoutingOutput, ...] = ()


class RoutingHead(nn.Module):
    """Route hidden states `[..., n_pos, d_depth, d_emb]` of all depths to `n_classes` scores.

    The states are normalized per depth (LayerNorm without affine), scaled and shifted per depth (`W, B:
    [d_depth, d_emb]`), flattened to `n_inp = n_pos * d_depth` vectors, and routed `-1 -> n_hid -> n_hid ->
    n_classes`, the last routing with `d_out = 1`. Under `torch.autocast("cpu", dtype=torch.bfloat16)` (opt-in)
    the routings' matrix products run in bfloat16, the rest in float32 (see `EfficientVectorRouting`).

    Args:
        d_depth: number of hidden states per position (embedding output plus one per block).
        d_emb: size of each hidden state.
        n_classes: number of classes (>= 2).
        n_hid: number of vectors in the two hidden routings. Default: 64, as in the paper.
        d_hid: size of each hidden vector. Default: `d_emb`, as in the paper.
        device, dtype: where and in what precision to create the parameters.
    """

    def __init__(
        self,
        d_depth: int,
        d_emb: int,
        n_classes: int,
        n_hid: int = 64,
        d_hid: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        d_hid = d_emb if d_hid is None else d_hid
        self.d_depth, self.d_emb, self.n_classes = d_depth, d_emb, n_classes
        self.n_hid, self.d_hid = n_hid, d_hid
        self.W = nn.Parameter(torch.ones(d_depth, d_emb, **kw))
        self.B = nn.Parameter(torch.zeros(d_depth, d_emb, **kw))
        self.route = nn.Sequential(
            EfficientVectorRouting(n_inp=-1, n_out=n_hid, d_inp=d_emb, d_out=d_hid, **kw),
            EfficientVectorRouting(n_inp=n_hid, n_out=n_hid, d_inp=d_hid, d_out=d_hid, **kw),
            EfficientVectorRouting(n_inp=n_hid, n_out=n_classes, d_inp=d_hid, d_out=1, **kw),
        )

    def extra_repr(self) -> str:
        return (
            f"d_depth={self.d_depth}, d_emb={self.d_emb}, n_classes={self.n_classes}, n_hid={self.n_hid}, "
            f"d_hid={self.d_hid}"
        )

    def forward(self, hidden_states: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores `[..., n_classes]` of hidden states `[..., n_pos, d_depth, d_emb]`.

        `pad_mask [..., n_pos]` (True on padding positions) gives padding zero credit. Unless phi is being
        recorded, the routings' plain calls skip the credit and train in less memory (see `forward_with_phi`).
        """
        if is_observed():
            return self.forward_with_phi(hidden_states, pad_mask).scores
        x = self.embed(hidden_states)  # [...id]
        for depth, routing in enumerate(self.route):
            x = routing(x, pad_mask=self._input_pad_mask(pad_mask) if depth == 0 else None)  # [...jh]
        return x.squeeze(-1)  # [...j]

    def forward_with_phi(
        self, hidden_states: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> HeadOutput:
        """Class scores together with the credit of each routing (see `HeadOutput`)."""
        x = self.embed(hidden_states)  # [...id]
        pad_mask = self._input_pad_mask(pad_mask)  # [...i]
        outputs = []
        for depth, routing in enumerate(self.route):
            x_inp = x
            outputs.append(routing.route(x_inp, pad_mask=pad_mask if depth == 0 else None))
            x = outputs[-1].x_out  # [...jh]
        votes = self.route[-1].votes(x_inp).squeeze(-1)  # [...ij]
        phis = [out.phi for out in outputs]
        return HeadOutput(scores=x.squeeze(-1), phis=phis, votes=votes, outputs=tuple(outputs))

    def _input_pad_mask(self, pad_mask: torch.Tensor | None) -> torch.Tensor | None:
        """A padding mask over positions `[..., n_pos]` as one over the first routing's inputs."""
        if pad_mask is None:
            return None
        return pad_mask.unsqueeze(-1).expand(*pad_mask.shape, self.d_depth).flatten(-2)  # [...i]

    def embed(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Normalize, scale and flatten hidden states to the first routing's inputs `[..., n_pos * d_depth, d_emb]`."""
        shape = tuple(hidden_states.shape)
        if hidden_states.dim() < 3 or shape[-2:] != (self.d_depth, self.d_emb):
            raise ValueError(
                f"hidden_states must have shape [..., n_pos, d_depth={self.d_depth}, d_emb={self.d_emb}], "
                f"got {shape}."
            )
        x = F.layer_norm(hidden_states, (self.d_emb,))  # [...pld]
        return (x * self.W + self.B).flatten(-3, -2)  # [...id]
