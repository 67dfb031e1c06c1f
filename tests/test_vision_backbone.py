"""VisionBackbone: hidden states of every depth of timm ViT-family models, positions and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch import nn

from creditlens.attribution import PatchPositions, VisionBackbone

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 32, "patch_size": 8}

# (timm name, number of prefix tokens the architecture is documented to have)
FAMILY = [
    ("vit_tiny_patch16_224", 1),  # class token
    ("deit_tiny_distilled_patch16_224", 2),  # class and distillation tokens
    ("beit_base_patch16_224", 1),  # relative position bias, no absolute position embedding
    ("eva02_tiny_patch14_224", 1),  # rotary position embedding
    ("vit_base_patch16_reg4_gap_256", 4),  # four register tokens, no class token
]


@pytest.mark.parametrize(("name", "n_prefix"), FAMILY)
def test_layout_and_depths_match_timm(name: str, n_prefix: int) -> None:
    backbone = VisionBackbone(name, **TINY)
    pixels = torch.randn(2, 3, 32, 32)
    hidden = backbone(pixels)
    assert backbone.num_prefix_tokens == n_prefix
    assert backbone.grid_size == (4, 4)
    assert hidden.shape == (2, n_prefix + 16, 3, 32)
    # timm's own per-block outputs (before the final norm) are depths 1..n_blocks.
    blocks = backbone.model.forward_intermediates(
        pixels, indices=2, norm=False, output_fmt="NLC", return_prefix_tokens=True, intermediates_only=True
    )
    for depth, (spatial, prefix) in enumerate(blocks, start=1):
        expected = spatial if prefix is None else torch.cat([prefix, spatial], dim=1)
        torch.testing.assert_close(hidden[:, :, depth], expected, rtol=0, atol=0)


def test_first_depth_is_the_input_of_the_first_block_and_last_is_before_the_final_norm() -> None:
    backbone = VisionBackbone("vit_tiny_patch16_224", **TINY)
    model = backbone.model
    pixels = torch.randn(3, 3, 32, 32)
    hidden = backbone(pixels)
    embedded = model.norm_pre(model._pos_embed(model.patch_embed(pixels)))
    torch.testing.assert_close(hidden[:, :, 0], embedded, rtol=0, atol=0)
    x = embedded
    for block in model.blocks:
        x = block(x)
    torch.testing.assert_close(hidden[:, :, -1], x, rtol=0, atol=0)
    torch.testing.assert_close(model.norm(hidden[:, :, -1]), model.forward_features(pixels), rtol=0, atol=0)


def test_beit_large_layout_on_the_meta_device() -> None:
    with torch.device("meta"):
        backbone = VisionBackbone("beit_large_patch16_224")
        hidden = backbone(torch.empty(1, 3, 224, 224))
    assert tuple(hidden.shape) == (1, 197, 25, 1024)
    assert (backbone.n_pos, backbone.d_depth, backbone.d_emb) == (197, 25, 1024)
    assert backbone.positions == PatchPositions(1, (14, 14))


def test_hooks_are_removed_after_use_and_after_an_error() -> None:
    backbone = VisionBackbone("vit_tiny_patch16_224", **TINY)
    blocks = backbone.model.blocks
    backbone(torch.randn(1, 3, 32, 32))
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in blocks)

    class Boom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    blocks[1] = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        backbone(torch.randn(1, 3, 32, 32))
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in blocks)


def test_backbone_is_frozen_and_in_eval_mode() -> None:
    backbone = VisionBackbone(timm.create_model("vit_tiny_patch16_224", drop_rate=0.5, **TINY))
    assert not backbone.model.training
    assert not any(p.requires_grad for p in backbone.parameters())
    pixels = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(backbone(pixels), backbone(pixels), rtol=0, atol=0)


def test_preprocess_uses_the_models_data_config() -> None:
    deit = VisionBackbone("deit_tiny_patch16_224", **TINY)
    assert deit.data_config["input_size"] == (3, 32, 32)
    assert deit.data_config["mean"] == timm.data.IMAGENET_DEFAULT_MEAN
    grey = Image.new("RGB", (50, 70), (128, 128, 128))
    pixels = deit.preprocess([grey, np.full((40, 30, 3), 128, np.uint8), np.full((40, 30), 128, np.uint8)])
    assert pixels.shape == (3, 3, 32, 32)
    mean = torch.tensor(timm.data.IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(timm.data.IMAGENET_DEFAULT_STD).view(3, 1, 1)
    torch.testing.assert_close(pixels, ((128 / 255 - mean) / std).expand(3, 3, 32, 32), atol=1e-5, rtol=0)
    assert deit.preprocess(grey).shape == (1, 3, 32, 32)
    assert deit.encode(grey).hidden_states.shape == (1, 17, 3, 32)


def test_positions_map_patches_row_by_row() -> None:
    positions = PatchPositions(num_prefix_tokens=2, grid_size=(3, 4))
    assert positions.n_pos == 14
    assert positions.hidden.tolist() == [True, True] + [False] * 12
    assert positions.row.tolist() == [-1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert positions.col.tolist() == [-1, -1, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]
    values = torch.arange(14.0)
    grid = positions.to_grid(values)
    for pos in range(2, 14):
        assert grid[positions.row[pos], positions.col[pos]] == values[pos]
    with pytest.raises(ValueError, match="n_pos=14"):
        positions.to_grid(torch.zeros(13))


def test_bad_inputs_give_clear_errors() -> None:
    backbone = VisionBackbone("vit_tiny_patch16_224", **TINY)
    with pytest.raises(ValueError, match=r"32x32"):
        backbone(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        backbone(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="empty"):
        backbone.preprocess([])
    with pytest.raises(TypeError, match="PIL image or a uint8 array"):
        backbone.preprocess([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(TypeError, match="not a timm ViT-family model"):
        VisionBackbone(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="model_kwargs"):
        VisionBackbone(backbone.model, depth=3)
