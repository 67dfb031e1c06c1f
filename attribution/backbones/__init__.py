"""Backbones: frozen pretrained transformers that give the hidden states of every depth to a routing head.

`VisionBackbone` wraps a timm ViT, `TextBackbone` a Hugging Face encoder; `saved_vit` is the saved form of the
small ViT that creditlens trains and ships (`fashion-mnist-vit`).
"""

from .saved_vit import load_vit_backbone, save_vit_backbone
from .text import TextBackbone
from .vision import VisionBackbone

__all__ = ["TextBackbone", "VisionBackbone", "load_vit_backbone", "save_vit_backbone"]
