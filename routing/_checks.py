"""Argument and shape checks shared by the routing layers, with messages that say what to do."""

from __future__ import annotations

import torch


def check_config(n_inp: int, n_out: int, n_iters: int) -> None:
    """Reject constructor arguments the algorithm cannot run with (the reference asserts or crashes)."""
    if not (n_inp > 0 or n_inp == -1):
        raise ValueError(f"n_inp must be a positive number of inputs or -1 (variable), got {n_inp}.")
    if n_out < 2:
        raise ValueError(
            f"n_out must be at least 2 (routing distributes each input over outputs), got {n_out}."
        )
    if n_iters < 1:
        raise ValueError(f"n_iters must be at least 1, got {n_iters}.")


def check_inputs(x_inp: torch.Tensor, n_inp: int, d_inp: int | None, name: str = "x_inp") -> None:
    """Check `x_inp [..., n_inp, d_inp]` against a layer's configuration."""
    if x_inp.dim() < 2:
        raise ValueError(f"{name} must have shape [..., n_inp, d_inp], got {tuple(x_inp.shape)}.")
    if d_inp is not None and x_inp.shape[-1] != d_inp:
        raise ValueError(
            f"{name} must have shape [..., n_inp, d_inp={d_inp}], got {tuple(x_inp.shape)}: "
            f"last dimension {x_inp.shape[-1]} != d_inp {d_inp}."
        )
    if n_inp > 0 and x_inp.shape[-2] != n_inp:
        raise ValueError(
            f"{name} must have shape [..., n_inp={n_inp}, d_inp], got {tuple(x_inp.shape)}: this layer has a "
            f"fixed number of inputs; build it with n_inp=-1 to route a variable number."
        )
    if x_inp.shape[-2] == 0:
        raise ValueError(f"{name} has no input vectors (shape {tuple(x_inp.shape)}).")


def check_masks(
    mask: torch.Tensor | None, pad_mask: torch.Tensor | None, batch: tuple[int, ...], n_inp: int, n_out: int
) -> torch.Tensor | None:
    """Validate `mask [..., n_inp, n_out]` and `pad_mask [..., n_inp]`; return their union as one pair mask.

    Both are boolean and True where an input is ignored: by one output (`mask`) or by all (`pad_mask`).
    """
    combined = None
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor (True = ignore), got dtype {mask.dtype}.")
        if mask.shape[-2:] != (n_inp, n_out) or not _broadcasts(mask.shape[:-2], batch):
            raise ValueError(
                f"mask must have shape [n_inp={n_inp}, n_out={n_out}] or [..., {n_inp}, {n_out}] with batch "
                f"dimensions broadcastable to {list(batch)}, got {tuple(mask.shape)}."
            )
        combined = mask
    if pad_mask is not None:
        if pad_mask.dtype != torch.bool:
            raise ValueError(f"pad_mask must be a bool tensor (True = padding), got dtype {pad_mask.dtype}.")
        if pad_mask.shape[-1:] != (n_inp,) or not _broadcasts(pad_mask.shape[:-1], batch):
            raise ValueError(
                f"pad_mask must have shape [..., n_inp={n_inp}] with batch dimensions broadcastable to "
                f"{list(batch)}, got {tuple(pad_mask.shape)}."
            )
        if bool(pad_mask.all(dim=-1).any()):
            raise ValueError(
                "pad_mask marks every input of a sample as padding: each sample needs one real input."
            )
        pad_pairs = pad_mask.unsqueeze(-1).expand(*pad_mask.shape, n_out)  # [...ij]
        combined = pad_pairs if combined is None else combined | pad_pairs
    return combined


def _broadcasts(shape: torch.Size, batch: tuple[int, ...]) -> bool:
    if len(shape) > len(batch):
        return False
    return all(s in (1, b) for s, b in zip(reversed(shape), reversed(batch)))
