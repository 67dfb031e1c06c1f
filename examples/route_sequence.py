"""Route a long sequence of vectors and show which inputs each output credits most.

Run: python examples/route_sequence.py [--n-inp 100000] [--d 256]
"""

from __future__ import annotations

import argparse
import time

import torch

from creditlens.routing import EfficientVectorRouting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inp", type=int, default=100_000, help="number of input vectors")
    parser.add_argument("--n-out", type=int, default=10, help="number of output vectors")
    parser.add_argument("--d", type=int, default=256, help="size of input and output vectors")
    args = parser.parse_args()

    torch.manual_seed(0)
    routing = EfficientVectorRouting(n_inp=-1, n_out=args.n_out, d_inp=args.d, d_out=args.d)
    x_inp = torch.randn(args.n_inp, args.d)  # [n_inp, d]
    start = time.perf_counter()
    with torch.no_grad():
        out = routing.route(x_inp)
    seconds = time.perf_counter() - start
    print(f"routed {args.n_inp:,} vectors of size {args.d} to {args.n_out} in {seconds:.2f} s")
    print(f"x_out {tuple(out.x_out.shape)}, phi {tuple(out.phi.shape)}")
    top = out.phi.topk(3, dim=0)  # the three most credited inputs of each output
    for j in range(args.n_out):
        cells = ", ".join(
            f"#{i} ({v:+.3f})" for i, v in zip(top.indices[:, j].tolist(), top.values[:, j].tolist())
        )
        print(f"output {j}: most credited inputs {cells}")


if __name__ == "__main__":
    main()
