"""The reduced-precision copy of a routing's input (`_call.py`), its memory handed from one call to the next.

Under bfloat16 autocast every plain call of `EfficientVectorRouting` converts its float32 input once for the
matrix products (for the paper head's first routing: 161 MB in, 80 MB out). Written to a freshly allocated
block, that copy first faults in every page of it, which takes about three times as long as writing to memory
already mapped. So a call that is done with its copy gives the block back here, and the next call whose input
fits in it writes its copy there; docs/performance.md has the measured gain. One block at a time is kept,
none larger than `MAX_SPARE_BYTES`: the only state the fast paths keep between calls besides their compiled
kernels (`_fused.py`)."""

from __future__ import annotations

import threading

import torch

# The largest block kept between calls: larger copies are freed as usual.
MAX_SPARE_BYTES = 2**30

_spare: torch.Tensor | None = None  # a flat block no call is using, or None
_lock = threading.Lock()


def low_copy(x: torch.Tensor, low: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """`x` converted to `low` precision, and the flat block holding it (to pass to `give_back` when done).

    The copy reuses the spare block if it has the precision, device and room; else a new block is allocated.
    """
    global _spare
    with _lock:
        spare, _spare = _spare, None
    if spare is None or spare.dtype != low or spare.device != x.device or spare.numel() < x.numel():
        spare = torch.empty(x.numel(), dtype=low, device=x.device)
    return spare[: x.numel()].view(x.shape).copy_(x), spare


def give_back(block: torch.Tensor) -> None:
    """Offer a flat block from `low_copy` to the next call; its caller must no longer use it."""
    global _spare
    if block.numel() * block.element_size() > MAX_SPARE_BYTES:
        return
    with _lock:
        if _spare is None or _spare.numel() <= block.numel():
            _spare = block
