"""Explain a recurrent residual routing model: which input vectors each output vector credits, end to end.

The model applies one routing `n -> n` recurrently as a residual block, `x = x + routing(norm(x))`, so each
step computes a new sequence that explains the accumulated one. `record_phi` collects the phi of every step;
`residual` turns each step's phi into the credit of its block (skip path plus routed path); `sequential`
chains the blocks. The LayerNorm acts on each vector alone, so it moves no credit between positions.

Run: python examples/recurrent_residual.py [--n 64] [--d 64] [--steps 4] [--batch 2] [--show 4]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from creditlens.attribution import record_phi, residual, sequential
from creditlens.routing import EfficientVectorRouting


class RecurrentResidualRoutings(nn.Module):
    """Apply one routing of `n_emb` vectors to `n_emb` vectors `n_steps` times as a residual block.

    Args:
        n_emb: number of vectors in the sequence (in and out of every step).
        d_emb: size of each vector.
        n_steps: number of recurrent steps.
    """

    def __init__(self, n_emb: int, d_emb: int, n_steps: int) -> None:
        super().__init__()
        self.n_steps = n_steps
        self.norm = nn.LayerNorm(d_emb)
        self.routing = EfficientVectorRouting(n_inp=n_emb, n_out=n_emb, d_inp=d_emb, d_out=d_emb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x [..., n_emb, d_emb] -> [..., n_emb, d_emb]`."""
        for _ in range(self.n_steps):
            x = self.norm(x)  # [...id]
            x = x + self.routing(x)  # [...id]
        return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="number of vectors in the sequence")
    parser.add_argument("--d", type=int, default=64, help="size of each vector")
    parser.add_argument("--steps", type=int, default=4, help="number of recurrent residual steps")
    parser.add_argument("--batch", type=int, default=2, help="number of sequences")
    parser.add_argument("--show", type=int, default=4, help="number of outputs to list")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = RecurrentResidualRoutings(args.n, args.d, args.steps)
    x = torch.randn(args.batch, args.n, args.d)  # [batch, n, d]
    with torch.no_grad(), record_phi(model) as rec:
        model(x)
    credit = sequential([residual(phi) for phi in rec.phis])  # [batch, n_inp, n_out]

    names = ", ".join(sorted(set(rec.names)))
    print(f"recorded {len(rec.phis)} phis (one per step) from {names}, each {tuple(rec.phis[0].shape)}")
    print(f"end-to-end credit {tuple(credit.shape)} [batch, n_inp, n_out]")
    top = credit[0].topk(min(3, args.n), dim=0)  # the most credited inputs of each output of sample 0
    for j in range(min(args.show, args.n)):
        cells = ", ".join(
            f"#{i} ({v:+.3f})" for i, v in zip(top.indices[:, j].tolist(), top.values[:, j].tolist())
        )
        print(f"sample 0, output {j}: most credited inputs {cells}")
    own_first = int((credit.argmax(dim=-2) == torch.arange(args.n)).sum())
    print(f"own input ranked first for {own_first} of {args.batch * args.n} outputs")


if __name__ == "__main__":
    main()
