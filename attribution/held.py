"""Backbone forward passes whose gradients hold attention, norm statistics and activations at their forward
values.

Inside `held_statistics()`, every layer norm (and RMS norm) divides by a standard deviation that gradients do
not flow through, every softmax (the attention probabilities) is a constant for gradients, fused attention is
computed with such a softmax, and GELU is `x * (gelu(x) / x)` with the ratio held. The forward values are
unchanged. For the gradient, the backbone is then linear in its input plus bias terms, so gradient x input
at the input carries the head's exact contributions (`contributions.py`) to the input positions as a linear
map would, and they add up to the score with the biases: the detached-statistics and identity rules of
relevance propagation for transformers (Ali et al. 2022, "XAI for Transformers: Better Explanations through
Conservative Propagation"; Achtibat et al. 2024, AttnLRP).

It works on any model built from torch's functional ops (timm's ViT family, Hugging Face encoders), whatever
attention implementation they use, by intercepting those functions (a `TorchFunctionMode`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode


def _layer_norm(
    x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None, bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:  # fmt: skip
    dims = tuple(range(-len(normalized_shape), 0))
    mean = x.mean(dims, keepdim=True)
    std = (x.var(dims, unbiased=False, keepdim=True) + eps).sqrt().detach()
    y = (x - mean) / std
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _rms_norm(
    x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    dims = tuple(range(-len(normalized_shape), 0))
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    y = x / (x.pow(2).mean(dims, keepdim=True) + eps).sqrt().detach()
    return y if weight is None else y * weight


def _attention(
    q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None, dropout_p: float = 0.0,
    is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
) -> Tensor:  # fmt: skip
    """`F.scaled_dot_product_attention` in eval mode (no dropout), with the probabilities held."""
    if enable_gqa and q.shape[-3] != k.shape[-3]:
        repeat = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(repeat, -3), v.repeat_interleave(repeat, -3)
    logits = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        n_q, n_k = logits.shape[-2:]
        causal = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        logits = logits.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            logits = logits.masked_fill(~attn_mask, float("-inf"))
        else:
            logits = logits + attn_mask
    return logits.softmax(-1).detach() @ v


def _gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU as `x * (gelu(x) / x)` with the ratio held: the MLP passes relevance on like a linear map."""
    y = F.gelu(x, approximate=approximate)
    ratio = torch.where(x.abs() > 1e-6, y / torch.where(x.abs() > 1e-6, x, 1.0), 0.5)
    return x * ratio.detach()


_SOFTMAXES = (F.softmax, torch.softmax, torch.Tensor.softmax)
_REPLACED = {
    F.gelu: _gelu,
    F.layer_norm: _layer_norm,
    F.rms_norm: _rms_norm,
    F.scaled_dot_product_attention: _attention,
}


class _Held(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _REPLACED:
            return _REPLACED[func](*args, **kwargs)
        result = func(*args, **kwargs)
        return result.detach() if func in _SOFTMAXES else result


@contextmanager
def held_statistics() -> Iterator[None]:
    """Within the block, norms' standard deviations, softmax outputs and GELU's ratios are constants for
    autograd (forward values unchanged)."""
    with _Held():
        yield
