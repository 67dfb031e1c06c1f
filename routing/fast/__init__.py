"""The fast paths of `EfficientVectorRouting`, on unless `creditlens.routing.set_fast_paths(False)`.

They compute what Algorithm 1 as written in `routing/efficient.py` computes, with that module's formulas, in
less memory and time:

- `_route.py`: `route()` over chunks of inputs, so that no `[..., n_inp, n_out]` temporary is larger than a
  chunk (`creditlens.routing.set_chunk_elements`), and by scalar votes for layers with one output feature over
  few inputs (a classifier's last routing).
- `_lean.py`: the plain call, without the per-input credit, with a hand-written backward pass that keeps
  little more than the input; `_small.py` holds the gradients of its small tensors, `_scalar.py` its variant
  by scalar votes, and `_call.py` one call's inputs and parameters as the passes take them.
- `_precision.py`: under (opt-in) reduced-precision autocast, matrix products in the lower precision and the
  rest in the parameters'; `_fused.py` then compiles each chunk's elementwise work into fused kernels, and
  `_spare.py` reuses the memory of the input's reduced-precision copy from one call to the next.
"""

from ._lean import lean_forward
from ._route import route_in_chunks

__all__ = ["lean_forward", "route_in_chunks"]
