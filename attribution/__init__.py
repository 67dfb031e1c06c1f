"""End-to-end credit assignment from the phi of every routing in a model (Heinsen 2022, Appendix A).

Recipes compose phi tensors; `record_phi` collects them from any model; backbones give the hidden states
of every depth; classifiers and explanations put it together for any class.
"""

# Recipes and phi recording.
from .grouping import group_sum, split_depths, sum_over_depths, sum_over_positions
from .recipes import parallel_concat, parallel_sum, residual, sequential, sequential_for_classes
from .record import PhiRecorder, record_phi

# Backbones, classifiers, explanations, the paper's models and the model zoo.
# isort: split
from .classifier import Backbone, Classifier, end_to_end_credit
from .contributions import Contributions, chain_contributions, head_contributions
from .encoding import Encoding, PatchPositions, TokenPositions, split_sentences
from .explanation import Explanation, ImageExplanation, TextExplanation, TopK
from .paper_models import PAPER_MODELS, PaperModel, load_head_file, load_paper_head, paper_dir, paper_model
from .text import TextBackbone
from .vision import VisionBackbone
from .zoo import ModelInfo, ZooModel, list_models, load_model

__all__: list[str] = [
    "PhiRecorder",
    "group_sum",
    "parallel_concat",
    "parallel_sum",
    "record_phi",
    "residual",
    "sequential",
    "sequential_for_classes",
    "split_depths",
    "sum_over_depths",
    "sum_over_positions",
    "Backbone",
    "Classifier",
    "Contributions",
    "Encoding",
    "Explanation",
    "ImageExplanation",
    "ModelInfo",
    "PAPER_MODELS",
    "PaperModel",
    "PatchPositions",
    "TextBackbone",
    "TextExplanation",
    "TokenPositions",
    "TopK",
    "VisionBackbone",
    "ZooModel",
    "chain_contributions",
    "end_to_end_credit",
    "head_contributions",
    "list_models",
    "load_head_file",
    "load_model",
    "load_paper_head",
    "paper_dir",
    "paper_model",
    "split_sentences",
]
