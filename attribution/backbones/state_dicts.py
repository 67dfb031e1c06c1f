"""One check of a weights file against the module it is for, with a message that names the first mismatch."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch


def check_state(
    expected: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    what: str,
) -> None:
    """Raise a `ValueError` naming the first missing, misshapen or unexpected key of `state`.

    Args:
        expected: the module's own state dict.
        state: the state read from `path`.
        path: the file, for the message.
        what: what the file is for (`"head"`, `"ViT"`), for the message.
    """
    for key, tensor in expected.items():
        if key not in state:
            raise ValueError(
                f"{path} does not match the {what}: key {key!r} is missing (it expects {len(expected)} keys)."
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{path} does not match the {what}: key {key!r} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}."
            )
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise ValueError(
            f"{path} does not match the {what}: key {unexpected[0]!r} is unexpected "
            f"({len(unexpected)} keys are not in the {what})."
        )
