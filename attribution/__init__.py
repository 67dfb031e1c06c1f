"""End-to-end credit assignment from the phi of every routing in a model (Heinsen 2022, Appendix A).

Recipes compose phi tensors; `record_phi` collects them from any model; classifiers and explanations put it
together for any class; `RoutingAttribution` hands it to Captum's metrics. These modules sit at the top
level; what serves them has a folder: `backbones/` (hidden states of every depth), `zoo/` (named models,
with `bundled/` beside it), `data/` (data sets and a user's files), `training/` (heads and the bundled
ViT) and `evaluation/` (faithfulness measures).
"""

# Recipes and phi recording.
from .grouping import group_sum, split_depths, sum_over_depths, sum_over_positions
from .recipes import parallel_concat, parallel_sum, residual, sequential, sequential_for_classes
from .record import PhiRecorder, record_phi

# Classifiers and explanations.
# isort: split
from .classifier import Backbone, Classifier, end_to_end_credit
from .contributions import Contributions, chain_contributions, head_contributions
from .encoding import Encoding, PatchPositions, TokenPositions, split_sentences
from .explanation import Explanation, ImageExplanation, TextExplanation, TopK

# Backbones, the paper's models and the model zoo, each in its folder (as are data/, training/, evaluation/).
# isort: split
from .backbones import TextBackbone, VisionBackbone
from .zoo import (
    PAPER_MODELS,
    ModelInfo,
    PaperModel,
    ZooModel,
    list_models,
    load_head_file,
    load_model,
    load_paper_head,
    paper_dir,
    paper_model,
)

# Captum's form of an explanation: a forward function on tensors and attributions shaped like them.
# isort: split
from .captum_adapter import RoutingAttribution

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
    "RoutingAttribution",
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
