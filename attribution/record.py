"""Record the credit phi of every routing that runs inside a model (the input to Appendix A of Heinsen 2022).

`record_phi(model)` listens to the routing layers' own announcements (`creditlens.routing.observe_routings`)
instead of registering hooks, so the model is left exactly as it was: no hooks, no flags, the same outputs,
and nothing left behind when the forward pass raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from creditlens.routing import MatrixRoutingOutput, VectorRoutingOutput, observe_routings

RoutingResult = VectorRoutingOutput | MatrixRoutingOutput


@dataclass
class PhiRecorder:
    """What `record_phi` saw, one entry per routing call in forward order.

    Attributes:
        phis: credit of each call, `[..., n_inp, n_out]`; it keeps its autograd graph when gradients are on.
        names: qualified name of each call's routing inside the recorded module (`''` for the module itself);
            a routing called twice appears twice.
        results: the full typed result of each call (`VectorRoutingOutput` or `MatrixRoutingOutput`).
    """

    phis: list[torch.Tensor] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    results: list[RoutingResult] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.phis)


@contextmanager
def record_phi(module: nn.Module) -> Iterator[PhiRecorder]:
    """Record the phi of every routing layer inside `module` that runs during the `with` block.

    Routing layers are `EfficientVectorRouting`, `DefinableVectorRouting` and `GenerativeMatrixRouting`,
    called directly or through `route()`. Routings that are not submodules of `module` (as registered when the
    block starts) are ignored. Recording contexts nest: each records the routings of its own module.

    Args:
        module: any `nn.Module`; it is not modified.

    Yields:
        A `PhiRecorder` whose lists grow as routings run; they stop growing when the block ends.

    Example:
        >>> head = RoutingHead(d_depth=3, d_emb=8, n_classes=5, n_hid=4)
        >>> with record_phi(head) as rec:
        ...     scores = head(torch.randn(2, 6, 3, 8))
        >>> rec.names, [tuple(p.shape) for p in rec.phis]
        (['route.0', 'route.1', 'route.2'], [(2, 18, 4), (2, 4, 4), (2, 4, 5)])
    """
    # Keyed by id (modules may define __eq__); holding each module keeps its id from being reused.
    names = {id(sub): (name, sub) for name, sub in module.named_modules()}
    recorder = PhiRecorder()

    def observe(routing: nn.Module, result: RoutingResult) -> None:
        entry = names.get(id(routing))
        if entry is None:
            return
        recorder.phis.append(result.phi)
        recorder.names.append(entry[0])
        recorder.results.append(result)

    with observe_routings(observe):
        yield recorder
