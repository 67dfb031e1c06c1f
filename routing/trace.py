"""Observers of routing calls: how `creditlens.attribution.record_phi` sees phi without touching any module.

Every routing layer announces its typed result here after each call. Observers live in a context variable,
so recording in one thread (or one Streamlit session) never sees another's calls, and no module's hooks,
flags or outputs change while something observes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from torch import nn

Observer = Callable[[nn.Module, Any], None]

_observers: ContextVar[tuple[Observer, ...]] = ContextVar("creditlens_routing_observers", default=())


@contextmanager
def observe_routings(observer: Observer) -> Iterator[None]:
    """Call `observer(module, result)` after every routing call inside the `with` block, in forward order."""
    token = _observers.set(_observers.get() + (observer,))
    try:
        yield
    finally:
        _observers.reset(token)


def is_observed() -> bool:
    """True inside an `observe_routings` block: layers then assemble their full results for the observers."""
    return bool(_observers.get())


def announce(module: nn.Module, result: Any) -> None:
    """Pass a routing layer's typed result to the active observers (called by the layers themselves)."""
    for observer in _observers.get():
        observer(module, result)
