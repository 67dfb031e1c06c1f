"""How faithful is an explanation? Perturbation protocols, sanity checks and baselines on the same model.

`evaluate` scores routing credit next to attention rollout, raw attention, gradient-weighted rollout,
input x gradient, Integrated Gradients, Grad-CAM and a random map (see `METHODS`), with the protocols of
`protocols` and the checks of `sanity`.
"""

from .curves import spearman, trapezoid, trapezoid_auc
from .methods import METHODS, Method, methods_for
from .probes import Batch, ImageProbe, TextProbe, make_probe
from .protocols import IMAGE_PROTOCOL, TEXT_PROTOCOL, image_curves, text_curves, unit_ranks
from .run import LOWER_IS_BETTER, EvaluationResult, evaluate
from .sanity import class_selectivity, randomisation_curve, randomised_head

__all__ = [
    "Batch",
    "EvaluationResult",
    "IMAGE_PROTOCOL",
    "ImageProbe",
    "LOWER_IS_BETTER",
    "METHODS",
    "Method",
    "TEXT_PROTOCOL",
    "TextProbe",
    "class_selectivity",
    "evaluate",
    "image_curves",
    "make_probe",
    "methods_for",
    "randomisation_curve",
    "randomised_head",
    "spearman",
    "text_curves",
    "trapezoid",
    "trapezoid_auc",
    "unit_ranks",
]
