"""The six classifiers of "An Algorithm for Routing Vectors in Sequences" (Heinsen 2022, Section 4, Table 1).

Each is a frozen pretrained transformer with a routing head over the hidden states of all its depths:
BEiT-large/16-224 for ImageNet-1k, CIFAR-10 and CIFAR-100, RoBERTa-large for IMDB, SST-2 and SST-5. The
heads are the `.state_dict` files of the `checkpoints/` folder of the GitHub repository
`glassroom/heinsen_routing_2022_paper`; the user downloads them once into a folder (default
`~/.cache/creditlens/paper`, or `$CREDITLENS_PAPER_DIR`). Preprocessing is the paper's test-time pipeline:
ImageNet images are resized to a 248 x 248 square (224 / 0.9, bicubic) and centre-cropped to 224; CIFAR
images are resized to 224 x 224 (bicubic), as the paper's `data.py` does; mean = std = 0.5. Texts are cut
into 512-token chunks.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from creditlens.routing import RoutingHead

from ..backbones.state_dicts import check_state
from ..backbones.text import TextBackbone
from ..backbones.vision import VisionBackbone
from ..classifier import Classifier
from ..labels import CIFAR10, CIFAR100, SENTIMENT2, SENTIMENT5, imagenet_labels

PAPER_REPO = "glassroom/heinsen_routing_2022_paper"
PAPER_URL = f"https://github.com/{PAPER_REPO}/raw/main/checkpoints/"
PAPER_DIR_ENV = "CREDITLENS_PAPER_DIR"
BEIT = "beit_large_patch16_224.in22k_ft_in22k_in1k"
ROBERTA = "roberta-large"


@dataclass(frozen=True)
class PaperModel:
    """One of the paper's six classifiers.

    Attributes:
        name: the creditlens name, such as `beit-large-cifar10`.
        head_file: the head's file name in the paper repository's `checkpoints/` folder.
        backbone: timm model name (images) or Hugging Face name (texts).
        modality: `"image"` or `"text"`.
        labels: a function giving the class names.
        accuracy: test accuracy reported in the paper (percent).
        data_config: timm preprocessing config (images only).
    """

    name: str
    head_file: str
    backbone: str
    modality: str
    labels: Callable[[], tuple[str, ...]]
    accuracy: float
    data_config: Mapping[str, Any] | None = None

    @property
    def url(self) -> str:
        """Where to download the head file."""
        return PAPER_URL + self.head_file


def _beit_config(*, crop_pct: float) -> dict[str, Any]:
    mean_std = (0.5, 0.5, 0.5)
    return {
        "input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": crop_pct, "crop_mode": "squash",
        "mean": mean_std, "std": mean_std,
    }  # fmt: skip


_BEIT_HEAD = "pretrained_{}_head_for_microsoft-beit-large-patch16-224.state_dict"
_ROBERTA_HEAD = "pretrained_{}_head_for_roberta-large.state_dict"

_MODELS = [
    PaperModel(
        "beit-large-imagenet1k", _BEIT_HEAD.format("imagenet-1k"), BEIT, "image", imagenet_labels, 86.7,
        _beit_config(crop_pct=0.9),
    ),
    PaperModel(
        "beit-large-cifar10", _BEIT_HEAD.format("cifar10"), BEIT, "image", lambda: CIFAR10, 99.2,
        _beit_config(crop_pct=1.0),
    ),
    PaperModel(
        "beit-large-cifar100", _BEIT_HEAD.format("cifar100"), BEIT, "image", lambda: CIFAR100, 93.8,
        _beit_config(crop_pct=1.0),
    ),
    PaperModel("roberta-large-imdb", _ROBERTA_HEAD.format("imdb"), ROBERTA, "text", lambda: SENTIMENT2, 96.2),
    PaperModel("roberta-large-sst2", _ROBERTA_HEAD.format("sst2"), ROBERTA, "text", lambda: SENTIMENT2, 96.0),
    PaperModel("roberta-large-sst5", _ROBERTA_HEAD.format("sst5"), ROBERTA, "text", lambda: SENTIMENT5, 59.8),
]  # fmt: skip

PAPER_MODELS: dict[str, PaperModel] = {m.name: m for m in _MODELS}


def paper_dir(directory: str | os.PathLike | None = None) -> Path:
    """The folder of the paper's head files: `directory` (the `paper_dir=` of `paper_model`, `load_model`
    and the others; `--paper-dir` on the command line), else `$CREDITLENS_PAPER_DIR`, else
    `~/.cache/creditlens/paper`."""
    if directory is not None:
        return Path(directory).expanduser()
    if os.environ.get(PAPER_DIR_ENV):
        return Path(os.environ[PAPER_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "creditlens" / "paper"


# The keyword `paper_dir=` of the functions below hides the function `paper_dir` inside them.
_folder = paper_dir


def paper_spec(name: str) -> PaperModel:
    """The `PaperModel` of a name (a ValueError lists the valid names)."""
    if name not in PAPER_MODELS:
        raise ValueError(f"unknown paper model {name!r}; valid names: {', '.join(PAPER_MODELS)}.")
    return PAPER_MODELS[name]


def load_head_file(path: str | os.PathLike, head: RoutingHead) -> RoutingHead:
    """Load a head's weights from a `torch.save`d state dict, strictly, with `weights_only=True`.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is not a state dict of tensors, or its keys or shapes differ from the head's
            (the message names the first missing, unexpected or wrong-shape key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no head file at {path}.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ValueError(f"{path} is not a readable PyTorch state dict: {error}") from error
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors).")
    return load_state_strict(head, state, path)


def load_state_strict(
    head: RoutingHead, state: Mapping[str, torch.Tensor], path: str | os.PathLike
) -> RoutingHead:
    """Load `state` into `head` strictly; a mismatch names the first missing, unexpected or wrong-shape key."""
    check_state(head.state_dict(), state, path, "head")
    head.load_state_dict(state, strict=True)
    return head


def load_paper_head(
    name: str,
    paper_dir: str | os.PathLike | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RoutingHead:
    """The published head of one of the paper's models, `RoutingHead(25, 1024, n_classes, n_hid=64)`.

    Raises:
        FileNotFoundError: if the head file is not in the folder; the message says what to download from
            where and where to put it.
    """
    spec = paper_spec(name)
    path = _folder(paper_dir) / spec.head_file
    if not path.is_file():
        raise FileNotFoundError(
            f"the head of {name!r} is not at {path}. Download {spec.head_file} from the checkpoints/ "
            f"folder of the GitHub repository {PAPER_REPO} ({spec.url}) and put it in {path.parent} "
            f"(or pass paper_dir=... / --paper-dir, or set {PAPER_DIR_ENV} to the folder that holds it)."
        )
    head = RoutingHead(
        d_depth=25, d_emb=1024, n_classes=len(spec.labels()), n_hid=64, device=device, dtype=dtype
    )
    return load_head_file(path, head)


def paper_model(
    name: str,
    paper_dir: str | os.PathLike | None = None,
    *,
    backbone: nn.Module | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Classifier:
    """One of the paper's six classifiers by name: `beit-large-imagenet1k`, `beit-large-cifar10`,
    `beit-large-cifar100`, `roberta-large-imdb`, `roberta-large-sst2` or `roberta-large-sst5`.

    Args:
        name: the model's name (see `PAPER_MODELS`).
        paper_dir: folder of the head files. Default: `$CREDITLENS_PAPER_DIR`, else
            `~/.cache/creditlens/paper`.
        backbone: a backbone to use instead of the pretrained BEiT-large or RoBERTa-large (it must give
            `d_depth = 25`, `d_emb = 1024`).
        device, dtype: where and in what precision to put the model.

    Raises:
        FileNotFoundError: if the head file is missing (the message says where to get it).
        OSError: if the pretrained backbone is neither cached nor downloadable (the message says how to get
            it).
    """
    spec = paper_spec(name)
    head = load_paper_head(name, paper_dir, device=device, dtype=dtype)
    if backbone is None:
        backbone = _pretrained_backbone(spec, device, dtype)
    return Classifier(backbone, head, spec.labels())


def _pretrained_backbone(
    spec: PaperModel, device: torch.device | str | None, dtype: torch.dtype | None
) -> nn.Module:
    if spec.modality == "text":
        return TextBackbone(spec.backbone, max_length=512, device=device, dtype=dtype)
    import timm
    from huggingface_hub import hf_hub_download

    repo_id = timm.models.get_pretrained_cfg(spec.backbone).hf_hub_id
    try:
        hf_hub_download(repo_id, "model.safetensors")  # fails fast when offline and not cached
    except Exception as error:  # offline, no network, no such file: all mean "get it elsewhere"
        raise OSError(
            f"the BEiT-large/16-224 backbone ({spec.backbone}, 1.2 GB) is not in the Hugging Face cache "
            'and cannot be downloaded here. On a machine with internet run `python -c "import timm; '
            f"timm.create_model('{spec.backbone}', pretrained=True)\"` (it fills ~/.cache/huggingface), "
            "then copy that cache here."
        ) from error
    model = timm.create_model(spec.backbone, pretrained=True)
    return VisionBackbone(model, data_config=dict(spec.data_config or {}), device=device, dtype=dtype)
