"""Whether an image is far outside what a model was trained on, by the checks its `model.json` states.

A classifier answers for any image, and a confident "Pullover 84%" for a photo of a cat invites a reading of
its credit map that the model's training cannot support. A model's `model.json` may describe its domain:

    "domain": {"description": "...", "grey": true, "border_max": 0.214}

- `description`: what the model was trained on, in words for the page.
- `grey`: the training images are greyscale, so a colour image is out of domain.
- `border_max`: the training images' border is dark: the mean of the outermost pixels of the image as the
  model received it (0 = black, 1 = white) stays below this (for Fashion-MNIST, its 99.9th percentile over
  the 60,000 training images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Mean over pixels of (largest - smallest channel) / 255 above which an image counts as colour: a grey image
# saved as RGB scores 0, JPEG noise a few thousandths, the colour photos of scikit-image 0.2 to 0.4.
COLOUR_LIMIT = 0.05


def domain_note(domain: dict[str, Any] | None, original: np.ndarray, seen: np.ndarray) -> str | None:
    """A note for the page when the input fails a check of `domain`, else None.

    Args:
        domain: the model's `domain` (see the module's docstring); None: no checks.
        original: `[H, W]` or `[H, W, 3]` uint8, the user's image.
        seen: `[h, w]` or `[h, w, 3]` uint8, the input as the model received it.
    """
    if not domain:
        return None
    reasons = []
    if domain.get("grey") and colourfulness(original) > COLOUR_LIMIT:
        reasons.append("it is a colour image")
    border_max = domain.get("border_max")
    if border_max is not None and border_mean(seen) > border_max:
        reasons.append("its background is not dark")
    if not reasons:
        return None
    return (
        f"This model was trained on {domain.get('description', 'other images')}; this input is far from that "
        f"({' and '.join(reasons)}), so its prediction, and the credit that explains it, mean little here."
    )


def colourfulness(image: np.ndarray) -> float:
    """Mean over pixels of (largest - smallest channel) / 255: 0 for a grey image."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return 0.0
    rgb = image[..., :3].astype(np.float32)
    return float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean() / 255)


def border_mean(image: np.ndarray) -> float:
    """Mean of the outermost row and column pixels of `image`, in 0..1."""
    grey = image.astype(np.float32) if image.ndim == 2 else image[..., :3].astype(np.float32).mean(axis=-1)
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    return float(border.mean() / 255)
