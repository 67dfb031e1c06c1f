"""Plain float arrays from numpy arrays, torch tensors or nested sequences, with their shape checked."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_array(values: ArrayLike, ndim: int | None = None, name: str = "values") -> np.ndarray:
    """`values` as a float64 numpy array (a torch tensor is detached and moved to the CPU first).

    Raises:
        ValueError: if `ndim` is given and the array has another number of dimensions.
    """
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU, in bfloat16 or needing grad
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=np.float64)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}.")
    return array
