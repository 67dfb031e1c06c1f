"""What the app keeps between reruns: loaded zoo models, and the explanation of each input computed once.

Streamlit reruns the page script on every interaction. Models are cached as resources (one per name, shared
by all sessions); an explanation is cached under the model's name and the input itself (Streamlit hashes the
uploaded bytes or the text), with every class explained at once (Heinsen 2022, Appendix A credit for all
classes comes from the same forward pass), so choosing another class, depth, view or colour scale only
redraws; drawn figures are cached too, so going back to one costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch
from matplotlib.figure import Figure
from PIL import Image

from creditlens.attribution import ImageExplanation, TextExplanation, paper_dir
from creditlens.attribution.data.image_files import MAX_PIXELS, open_image
from creditlens.attribution.zoo import ModelInfo, ZooModel, list_models, load_model
from creditlens.attribution.zoo import models as zoo_module

from . import samples
from .downloads import figure_file

_LOG = logging.getLogger(__name__)

MAX_PIXELS_ENV = "CREDITLENS_MAX_PIXELS"
THREADS_ENV = "CREDITLENS_APP_THREADS"
DISPLAY_SIDE = 448  # longest side of the image drawn under the credit overlay, in pixels


@dataclass(frozen=True)
class ExplainedImage:
    """An image input and its explanation.

    Attributes:
        image: `[H, W]` or `[H, W, 3]` uint8, the part of the input the model sees (after its centre crop),
            at most `DISPLAY_SIDE` pixels on a side: the user's image, as shown beside what the model saw.
        model_input: `[h, w]` or `[h, w, 3]` uint8, the input as the model received it (for the bundled
            Fashion-MNIST model, 28 x 28 grey), with the preprocessing's normalisation undone: overlays are
            drawn on it.
        explanation: the credit of every patch at every depth for every class.
    """

    image: np.ndarray
    model_input: np.ndarray
    explanation: ImageExplanation


def max_pixels() -> int:
    """The largest accepted image (width x height): `$CREDITLENS_MAX_PIXELS`, else 40 megapixels."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_PIXELS


def limit_threads() -> int:
    """Run torch on `$CREDITLENS_APP_THREADS` threads (default 1) and return the number.

    One explanation is one small forward pass: on a busy machine, torch's threads waiting for each other made
    it 30 times slower (1.3 s instead of 0.04 s for the bundled ViT on 2 shared cores), while one thread keeps
    a page fast whatever else runs.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    threads = int(value) if value.isdigit() and int(value) > 0 else 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def zoo() -> list[ModelInfo]:
    """Every zoo model with its status, read again whenever a model folder or the paper folder changes (so
    files a user just downloaded show as ready) and otherwise cached: reading it takes tens of milliseconds.
    """
    folder = paper_dir()
    present = tuple(sorted(path.name for path in folder.iterdir())) if folder.is_dir() else ()
    configs = sorted(zoo_module.BUNDLED_DIR.glob(f"*/{zoo_module.MODEL_FILE}"))
    bundled = tuple((str(path), path.stat().st_mtime_ns) for path in configs)
    return _zoo(str(folder), present, bundled)


@st.cache_resource(max_entries=8, show_spinner=False)
def _zoo(folder: str, present: tuple[str, ...], bundled: tuple[tuple[str, int], ...]) -> list[ModelInfo]:
    # `present` and `bundled` only key the cache: a file added, removed or rewritten reads the zoo again.
    return list_models(folder)


@st.cache_resource(max_entries=4, show_spinner="Loading the model ...")
def model(name: str) -> ZooModel:
    """A zoo model, loaded once per process.

    Raises:
        ValueError, FileNotFoundError: an unknown model, or one whose files are missing or unreadable.
    """
    return load_model(name)


@st.cache_resource(max_entries=16, show_spinner="Explaining ...")
def explain_image(name: str, data: bytes, filename: str, limit: int, method: str) -> ExplainedImage:
    """Open an image (at most `limit` pixels) and explain every class of model `name` for it with `method`.

    Raises:
        ImageError: a file that is not an image, truncated or corrupt, or too large.
    """
    image = open_image(data, name=filename, max_pixels=limit)
    classifier = model(name).classifier
    backbone = classifier.backbone
    pixels = backbone.preprocess([image])  # [1chw]
    explanation = classifier.explain(pixels, method=method)
    seen = _as_image(pixels[0], backbone.data_config)
    return ExplainedImage(_model_view(image, backbone.data_config), seen, explanation)


@st.cache_resource(max_entries=16, show_spinner="Explaining ...")
def explain_text(name: str, text: str, method: str) -> TextExplanation:
    """Explain every class of text model `name` for `text` (see `text_limit.check_text`) with `method`."""
    return model(name).classifier.explain([text], method=method)


@st.cache_data(max_entries=64, show_spinner=False)
def figure_png(key: str, _build: Callable[[], Figure]) -> bytes:
    """The PNG of a figure, drawn once per `key` (which must name the input, class, view and its options)."""
    return figure_file(_build, "png")


def warm() -> None:
    """Load every bundled model and explain its first sample with its default method, into the caches the
    page reads, so the first visitor of a fresh server finds them ready; a model that fails is skipped (the
    page shows its error when it is picked).
    """
    limit_threads()
    for info in zoo():
        if info.source != "bundled" or info.status != "ready":
            continue
        try:
            model(info.name)
            if info.task == "image":
                first = samples.image_samples()[0]
                explain_image(info.name, samples.sample_bytes(first), first, max_pixels(), info.method)
            else:
                explain_text(info.name, samples.text_samples()[0], info.method)
        except Exception as err:  # a warm-up must not stop the server
            _LOG.warning("warming %s failed: %s", info.name, err)


def _as_image(pixels: torch.Tensor, data_config: dict[str, Any]) -> np.ndarray:
    """`[C, H, W]` normalised pixels as the `[H, W]` (grey) or `[H, W, 3]` uint8 image they were made from."""
    channels = pixels.shape[0]
    mean = torch.tensor(data_config.get("mean", (0.0,) * channels), dtype=pixels.dtype).view(-1, 1, 1)
    std = torch.tensor(data_config.get("std", (1.0,) * channels), dtype=pixels.dtype).view(-1, 1, 1)
    values = (pixels * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)  # [chw]
    return values[0].numpy() if channels == 1 else values.permute(1, 2, 0).numpy()


def _model_view(image: Image.Image, data_config: dict[str, Any]) -> np.ndarray:
    """The region of `image` the model's preprocessing keeps (a centred crop), reduced for display."""
    _, height, width = data_config["input_size"]
    crop_pct = float(data_config.get("crop_pct") or 1.0)
    if data_config.get("crop_mode", "center") == "center":
        # Resizing the short side to size / crop_pct and then cropping size keeps this share of the image.
        scale = min(image.width / width, image.height / height) * crop_pct
        box_w = min(image.width, round(width * scale))
        box_h = min(image.height, round(height * scale))
        left = (image.width - box_w) // 2
        top = (image.height - box_h) // 2
        image = image.crop((left, top, left + box_w, top + box_h))
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return np.asarray(image)
