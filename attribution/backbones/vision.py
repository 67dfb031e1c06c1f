"""Vision backbones: the hidden states of every depth of a timm ViT-family model (ViT, DeiT, BEiT, EVA, ...).

The paper's vision heads (Heinsen 2022, Section 4) route the embedding output and the output of each of the
24 blocks of BEiT-large/16-224: `[B, n_pos = 1 + 14 * 14, d_depth = 25, d_emb = 1024]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..encoding import Encoding, PatchPositions

ImageInput = Image.Image | np.ndarray | torch.Tensor | Sequence[Image.Image | np.ndarray]


class VisionBackbone(nn.Module):
    """A frozen timm ViT-family model that returns the hidden states of all its depths.

    Depth 0 is the embedding output (patch embedding with prefix tokens and position embedding: the input of
    the first block); depth `k` is the output of block `k` (before any final norm).

    Args:
        model: a timm model with `blocks`, `num_prefix_tokens` and `patch_embed.grid_size`, or a timm model
            name (created with `timm.create_model(model, pretrained=pretrained, **model_kwargs)`).
        pretrained: with a model name, whether timm loads pretrained weights (needs them in the local cache
            when offline).
        data_config: preprocessing config for `timm.data.create_transform` (`input_size`, `interpolation`,
            `mean`, `std`, `crop_pct`, `crop_mode`). Default: the model's own, at its own input size.
        device, dtype: where and in what precision to keep the model.
        **model_kwargs: passed to `timm.create_model` with a model name (such as `depth=2, img_size=64`).

    Example:
        >>> backbone = VisionBackbone("vit_tiny_patch16_224", depth=2, img_size=64)
        >>> backbone(torch.randn(1, 3, 64, 64)).shape  # [B, n_pos, d_depth, d_emb]
        torch.Size([1, 17, 3, 192])
    """

    def __init__(
        self,
        model: nn.Module | str,
        *,
        pretrained: bool = False,
        data_config: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **model_kwargs: Any,
    ) -> None:
        super().__init__()
        import timm  # imported where used, so that importing creditlens.attribution stays light
        from timm.data import create_transform, resolve_data_config

        if isinstance(model, str):
            model = timm.create_model(model, pretrained=pretrained, **model_kwargs)
        elif model_kwargs or pretrained:
            raise ValueError("pretrained and model_kwargs apply only when model is a timm model name.")
        _check_vit_family(model)
        self.model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
        patch_embed = model.patch_embed
        self.in_chans = int(patch_embed.proj.in_channels)
        if data_config is None:
            args = {"input_size": (self.in_chans, *patch_embed.img_size)} if patch_embed.img_size else {}
            data_config = resolve_data_config(args, model=model)
        self.data_config = dict(data_config)
        self.transform = create_transform(**self.data_config, is_training=False)

    @property
    def num_prefix_tokens(self) -> int:
        """Number of class, distillation and register tokens before the patches."""
        return int(self.model.num_prefix_tokens)

    @property
    def grid_size(self) -> tuple[int, int]:
        """`(rows, cols)` of the patch grid."""
        rows, cols = self.model.patch_embed.grid_size
        return int(rows), int(cols)

    @property
    def positions(self) -> PatchPositions:
        """What each of the `n_pos` positions is."""
        return PatchPositions(self.num_prefix_tokens, self.grid_size)

    @property
    def n_pos(self) -> int:
        """Number of positions: prefix tokens plus patches."""
        return self.positions.n_pos

    @property
    def d_depth(self) -> int:
        """Number of hidden states per position: embedding output plus one per block."""
        return len(self.model.blocks) + 1

    @property
    def d_emb(self) -> int:
        """Size of each hidden state."""
        return int(self.model.embed_dim)

    @property
    def embedding_offset(self) -> int:
        """Position of the first patch (`leaf_rows`' first row): the patches come after the prefix tokens."""
        return self.num_prefix_tokens

    @contextmanager
    def input_leaf(self) -> Iterator[list[torch.Tensor]]:
        """Within the block, the pixels entering the patch embedding are a leaf that requires grad (the
        weights are frozen, so nothing else would); the list collects them, `[B, C, H, W]` per pass."""
        taken: list[torch.Tensor] = []

        def take(module: nn.Module, args: tuple) -> tuple:
            taken.append(args[0].detach().requires_grad_(True))
            return (taken[-1], *args[1:])

        handle = self.model.patch_embed.register_forward_pre_hook(take)
        try:
            yield taken
        finally:
            handle.remove()

    def leaf_rows(self, values: torch.Tensor) -> torch.Tensor:
        """`[..., n_patches]` per-patch sums of per-pixel values `[..., C, H, W]` of `input_leaf`'s pixels."""
        rows, cols = self.grid_size
        per_pixel = values.sum(-3)  # [...hw]
        patches = per_pixel.unflatten(-1, (cols, -1)).unflatten(-3, (rows, -1)).sum((-3, -1))  # [...rc]
        return patches.flatten(-2)

    @contextmanager
    def attention_maps(self) -> Iterator[list[torch.Tensor]]:
        """A context that collects each block's attention probabilities `[B, n_heads, n_pos, n_pos]` of the
        forward passes run in it (first block first; each keeps its graph)."""
        maps: list[torch.Tensor] = []
        modules = [block.attn for block in self.model.blocks]
        fused = [getattr(module, "fused_attn", False) for module in modules]

        def take(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            maps.append(output)

        # timm's fused attention never forms the probabilities; the unfused path passes them to attn_drop.
        handles = [module.attn_drop.register_forward_hook(take) for module in modules]
        for module in modules:
            module.fused_attn = False
        try:
            yield maps
        finally:
            for module, was_fused in zip(modules, fused):
                module.fused_attn = was_fused
            for handle in handles:
                handle.remove()

    def preprocess(self, images: ImageInput) -> torch.Tensor:
        """Pixels `[B, C, H, W]` from PIL images or `uint8` arrays `[H, W(, C)]`, with the model's transform.

        A tensor is returned unchanged (it is taken to be preprocessed already), with a batch dim added to a
        single `[C, H, W]` image.
        """
        if isinstance(images, torch.Tensor):
            return images.unsqueeze(0) if images.dim() == 3 else images
        if isinstance(images, (Image.Image, np.ndarray)):
            images = [images]
        if len(images) == 0:
            raise ValueError("images is empty: give at least one image.")
        mode = "RGB" if self.in_chans == 3 else "L"
        return torch.stack([self.transform(_to_pil(img).convert(mode)) for img in images])  # [bchw]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Hidden states `[B, n_pos, d_depth, d_emb]` of preprocessed pixels `[B, C, H, W]`."""
        self._check_pixels(pixels)
        param = next(self.model.parameters())
        pixels = pixels.to(device=param.device, dtype=param.dtype)
        with _record_blocks(self.model.blocks) as states:
            self.model.forward_features(pixels)
        hidden_states = torch.stack(states, dim=-2)  # [bpld]
        if hidden_states.shape[1] != self.n_pos:
            raise ValueError(
                f"the model gave {hidden_states.shape[1]} positions, but its prefix tokens and patch grid "
                f"{self.grid_size} make {self.n_pos}: is the image size {tuple(pixels.shape[-2:])} right?"
            )
        return hidden_states

    def encode(self, images: ImageInput) -> Encoding:
        """Preprocess images and return their hidden states with what each position is (no padding)."""
        return Encoding(self(self.preprocess(images)), None, self.positions)

    def _check_pixels(self, pixels: torch.Tensor) -> None:
        size = tuple(self.model.patch_embed.img_size or ())
        if pixels.dim() != 4 or pixels.shape[1] != self.in_chans:
            raise ValueError(f"pixels must have shape [B, {self.in_chans}, H, W], got {tuple(pixels.shape)}.")
        if size and not getattr(self.model.patch_embed, "dynamic_img_size", False):
            if tuple(pixels.shape[-2:]) != size:
                raise ValueError(f"pixels must be {size[0]}x{size[1]}, got {tuple(pixels.shape[-2:])}.")
        if pixels.shape[0] == 0:
            raise ValueError("pixels is an empty batch.")


def _check_vit_family(model: nn.Module) -> None:
    """Raise a clear error if `model` lacks what a ViT-family backbone needs."""
    blocks = getattr(model, "blocks", None)
    patch_embed = getattr(model, "patch_embed", None)
    missing = [
        name
        for name, ok in [
            ("blocks", isinstance(blocks, (nn.ModuleList, nn.Sequential)) and len(blocks) > 0),
            ("num_prefix_tokens", isinstance(getattr(model, "num_prefix_tokens", None), int)),
            ("patch_embed.grid_size", getattr(patch_embed, "grid_size", None) is not None),
            ("embed_dim", isinstance(getattr(model, "embed_dim", None), int)),
            ("forward_features", callable(getattr(model, "forward_features", None))),
        ]
        if not ok
    ]
    if missing:
        raise TypeError(
            f"{type(model).__name__} is not a timm ViT-family model (ViT, DeiT, BEiT, EVA, ...): "
            f"it lacks {', '.join(missing)}."
        )


@contextmanager
def _record_blocks(blocks: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the input of the first block and the output of every block; remove the hooks on exit."""
    states: list[torch.Tensor] = []

    def take_input(module: nn.Module, args: tuple, kwargs: dict) -> None:
        states.append(args[0] if args else kwargs["x"])

    def take_output(module: nn.Module, args: tuple, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"block {type(module).__name__} returned {type(output).__name__}, not a tensor.")
        states.append(output)

    handles = [blocks[0].register_forward_pre_hook(take_input, with_kwargs=True)]
    handles += [block.register_forward_hook(take_output) for block in blocks]
    try:
        yield states
    finally:
        for handle in handles:
            handle.remove()


def _to_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim in (2, 3):
        return Image.fromarray(image)
    raise TypeError(
        "each image must be a PIL image or a uint8 array [H, W] or [H, W, C], "
        f"got {type(image).__name__}{getattr(image, 'shape', '')}."
    )
