"""Heinsen routing layers that return their credit assignments phi.

Implements "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022) and "An Algorithm for Routing
Capsules in All Domains" (Heinsen 2019), at numerical parity with the reference implementation.
`routing/efficient.py` holds Algorithm 1 as one loop; `set_fast_paths` and `set_chunk_elements` choose how
`EfficientVectorRouting` runs it (see `routing/config.py`).
"""

from .config import chunk_elements, fast_paths, fast_paths_enabled, set_chunk_elements, set_fast_paths
from .definable import DefinableVectorRouting
from .efficient import EfficientVectorRouting
from .generative import GenerativeMatrixRouting
from .head import HeadOutput, RoutingHead
from .output import MatrixRoutingOutput, VectorRoutingOutput
from .trace import observe_routings

__all__ = [
    "DefinableVectorRouting",
    "EfficientVectorRouting",
    "GenerativeMatrixRouting",
    "HeadOutput",
    "MatrixRoutingOutput",
    "RoutingHead",
    "VectorRoutingOutput",
    "chunk_elements",
    "fast_paths",
    "fast_paths_enabled",
    "observe_routings",
    "set_chunk_elements",
    "set_fast_paths",
]
