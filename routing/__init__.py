"""Heinsen routing layers that return their credit assignments phi.

Implements "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022) and "An Algorithm for Routing
Capsules in All Domains" (Heinsen 2019), at numerical parity with the reference implementation.
"""

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
    "observe_routings",
]
