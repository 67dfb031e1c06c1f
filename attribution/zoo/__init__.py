"""The model zoo: the bundled models (in `attribution/bundled/`), the paper's six, and models users save.

`models` lists, loads and saves zoo models; `paper` knows the six heads of "An Algorithm for Routing Vectors
in Sequences" (Heinsen 2022, Section 4) and their backbones.
"""

from .models import (
    BUNDLED_DIR,
    ModelInfo,
    ZooModel,
    build_backbone,
    list_models,
    load_model,
    load_saved_model,
    save_model,
)
from .paper import PAPER_MODELS, PaperModel, load_head_file, load_paper_head, paper_dir, paper_model

__all__ = [
    "BUNDLED_DIR",
    "PAPER_MODELS",
    "ModelInfo",
    "PaperModel",
    "ZooModel",
    "build_backbone",
    "list_models",
    "load_head_file",
    "load_model",
    "load_paper_head",
    "load_saved_model",
    "paper_dir",
    "paper_model",
    "save_model",
]
