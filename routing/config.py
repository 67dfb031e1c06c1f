"""The two settings of the routings' fast paths (`routing/fast/`), as timm's `set_fused_attn`.

- `set_fast_paths(enabled)` (or `with fast_paths(enabled):`): on (the default), `EfficientVectorRouting`'s plain
  call trains with a hand-written backward pass over chunks of inputs, `route()` walks inputs in chunks, layers
  with one output feature over few inputs route by scalar votes, and under bfloat16 autocast the elementwise
  work runs as compiled kernels. Off, both run Algorithm 1 as written in `routing/efficient.py`, with autograd:
  the reference against which the fast paths are tested. Results agree to rounding either way.
- `set_chunk_elements(n)`: the largest number of elements of one `[chunk, n_out]` temporary of the fast paths
  (default `DEFAULT_CHUNK_ELEMENTS`). Results do not depend on it beyond rounding.

Both are process-wide, like torch's own settings (`torch.set_num_threads`): set them once, before routing.
Besides them the fast paths keep, between calls, only their compiled kernels and, under reduced-precision
autocast, the memory of the last call's copy of its input for the next call (`routing/fast/_spare.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# 1 MiB in float32: small enough that a chunk's temporaries stay in cache and are reused from the heap (larger
# chunks raised the peak resident memory of the paper's head by 45 MiB through heap fragmentation), large
# enough for efficient matrix products. See docs/performance.md.
DEFAULT_CHUNK_ELEMENTS = 2**18

_fast_paths = True
_chunk_elements = DEFAULT_CHUNK_ELEMENTS


def set_fast_paths(enabled: bool) -> None:
    """Turn the routings' fast paths on (the default) or off (Algorithm 1 as written, with autograd)."""
    global _fast_paths
    _fast_paths = bool(enabled)


def fast_paths_enabled() -> bool:
    """Whether the routings' fast paths are on."""
    return _fast_paths


@contextmanager
def fast_paths(enabled: bool = True) -> Iterator[None]:
    """Turn the fast paths on or off inside a `with` block, restoring the previous setting after it."""
    previous = _fast_paths
    set_fast_paths(enabled)
    try:
        yield
    finally:
        set_fast_paths(previous)


def set_chunk_elements(n: int | None = None) -> None:
    """Largest number of elements of one `[chunk, n_out]` temporary of the fast paths (`None`: the default).

    A plain call under reduced-precision autocast uses chunks 4 times as large (see `routing/fast/_call.py`).
    """
    global _chunk_elements
    if n is not None and n < 1:
        raise ValueError(f"chunk elements must be a positive number, got {n}.")
    _chunk_elements = DEFAULT_CHUNK_ELEMENTS if n is None else int(n)


def chunk_elements() -> int:
    """The current largest number of elements of one `[chunk, n_out]` temporary of the fast paths."""
    return _chunk_elements
