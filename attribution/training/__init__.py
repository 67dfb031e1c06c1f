"""Training: a routing head on a frozen backbone's cached hidden states (`head`, `cache`), and the small ViT
backbone that creditlens ships (`vit`, run as `creditlens train-backbone`).
"""

from .head import TrainConfig, train_head
from .vit import ViTTrainingResult, train_vit_backbone

__all__ = ["TrainConfig", "ViTTrainingResult", "train_head", "train_vit_backbone"]
