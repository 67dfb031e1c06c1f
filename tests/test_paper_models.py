"""The paper's six models: head files of the published keys and shapes, labels, preprocessing, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from timm.data import create_transform
from torch import nn

from creditlens.attribution import (
    PAPER_MODELS,
    Classifier,
    Encoding,
    PatchPositions,
    load_head_file,
    load_paper_head,
    paper_dir,
    paper_model,
)
from creditlens.attribution.labels import CIFAR10, CIFAR100, imagenet_labels
from creditlens.routing import RoutingHead

PUBLISHED = json.loads((Path(__file__).parent / "data" / "reference" / "paper_checkpoints.json").read_text())
N_CLASSES = {
    "beit-large-imagenet1k": 1000, "beit-large-cifar10": 10, "beit-large-cifar100": 100,
    "roberta-large-imdb": 2, "roberta-large-sst2": 2, "roberta-large-sst5": 5,
}  # fmt: skip


def _write_head(folder: Path, file_name: str, fill: float = 0.0) -> Path:
    """A head file with the published keys and shapes."""
    path = folder / file_name
    torch.save({k: torch.full(shape, fill) for k, shape in PUBLISHED[file_name]["keys"].items()}, path)
    return path


class FakeBackbone(nn.Module):
    """Random hidden states of BEiT-large's size on a 2 x 2 patch grid, instead of 300M parameters."""

    d_depth, d_emb = 25, 1024

    def encode(self, inputs: torch.Tensor) -> Encoding:
        hidden = torch.randn(inputs.shape[0], 5, 25, 1024)
        return Encoding(hidden, None, PatchPositions(1, (2, 2)))


def test_the_six_models_name_the_published_head_files() -> None:
    assert set(PAPER_MODELS) == set(N_CLASSES)
    assert {spec.head_file for spec in PAPER_MODELS.values()} == set(PUBLISHED)
    for name, spec in PAPER_MODELS.items():
        assert PUBLISHED[spec.head_file]["n_classes"] == N_CLASSES[name] == len(spec.labels())
        assert spec.url.endswith(
            "glassroom/heinsen_routing_2022_paper/raw/main/checkpoints/" + spec.head_file
        )


@pytest.mark.parametrize("name", ["beit-large-cifar10", "roberta-large-sst5"])
def test_published_head_files_load_strictly(name: str, tmp_path: Path) -> None:
    spec = PAPER_MODELS[name]
    _write_head(tmp_path, spec.head_file, fill=0.25)
    head = load_paper_head(name, tmp_path)
    assert (head.d_depth, head.d_emb, head.n_classes, head.n_hid) == (25, 1024, N_CLASSES[name], 64)
    assert all((v == 0.25).all() for v in head.state_dict().values())


def test_the_folder_comes_from_the_argument_then_the_environment_then_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDITLENS_PAPER_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paper_dir() == tmp_path / "home" / ".cache" / "creditlens" / "paper"
    monkeypatch.setenv("CREDITLENS_PAPER_DIR", str(tmp_path / "env"))
    assert paper_dir() == tmp_path / "env"
    assert paper_dir(tmp_path / "arg") == tmp_path / "arg"
    (tmp_path / "env").mkdir()
    _write_head(tmp_path / "env", PAPER_MODELS["roberta-large-imdb"].head_file)
    assert load_paper_head("roberta-large-imdb").n_classes == 2


def test_a_missing_head_file_says_what_to_download_and_where_to_put_it(tmp_path: Path) -> None:
    spec = PAPER_MODELS["beit-large-cifar100"]
    with pytest.raises(FileNotFoundError) as error:
        paper_model("beit-large-cifar100", tmp_path / "heads")
    message = str(error.value)
    assert spec.head_file in message
    assert "glassroom/heinsen_routing_2022_paper" in message and "checkpoints/" in message
    assert str(tmp_path / "heads") in message and "CREDITLENS_PAPER_DIR" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("route.1.W_F2"), "'route.1.W_F2' is missing"),
        (lambda s: s.update(extra=torch.zeros(1)), "'extra' is unexpected"),
        (lambda s: s.update(W=torch.zeros(24, 1024)), r"'W' has shape \(24, 1024\), expected \(25, 1024\)"),
    ],
)
def test_a_file_with_wrong_keys_names_the_first_mismatch(change, expected: str, tmp_path: Path) -> None:
    name = "roberta-large-imdb"
    path = _write_head(tmp_path, PAPER_MODELS[name].head_file)
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)
    with pytest.raises(ValueError, match=expected):
        load_paper_head(name, tmp_path)


def test_a_file_that_is_not_a_state_dict_is_rejected(tmp_path: Path) -> None:
    head = RoutingHead(d_depth=2, d_emb=8, n_classes=2, n_hid=4)
    garbage = tmp_path / "garbage.state_dict"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch state dict"):
        load_head_file(garbage, head)
    listed = tmp_path / "list.state_dict"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_head_file(listed, head)
    with pytest.raises(FileNotFoundError):
        load_head_file(tmp_path / "absent", head)


def test_a_paper_model_with_an_injected_backbone_explains(tmp_path: Path) -> None:
    _write_head(tmp_path, PAPER_MODELS["beit-large-cifar10"].head_file)
    classifier = paper_model("beit-large-cifar10", tmp_path, backbone=FakeBackbone())
    assert isinstance(classifier, Classifier)
    assert classifier.labels == CIFAR10
    explanation = classifier.explain(torch.zeros(2, 3, 224, 224), target=["cat", "ship"])
    assert explanation.credit.shape == (2, 5, 25, 2)
    assert explanation.grid("cat").shape == (2, 2, 2)


def test_a_missing_backbone_says_how_to_get_it(tmp_path: Path) -> None:
    for name in ["beit-large-imagenet1k", "roberta-large-sst2"]:
        _write_head(tmp_path, PAPER_MODELS[name].head_file)
    with pytest.raises(OSError, match=r"timm\.create_model\('beit_large_patch16_224\.in22k_ft_in22k_in1k'"):
        paper_model("beit-large-imagenet1k", tmp_path)
    pytest.importorskip("transformers")
    with pytest.raises(OSError, match="hf download roberta-large"):
        paper_model("roberta-large-sst2", tmp_path)


def test_unknown_names_list_the_six() -> None:
    with pytest.raises(ValueError, match="beit-large-imagenet1k, beit-large-cifar10"):
        paper_model("beit-large-cifar1000")


def test_labels_are_the_datasets_own() -> None:
    assert CIFAR10.index("cat") == 3 and CIFAR10.index("truck") == 9
    assert len(set(CIFAR100)) == 100 and list(CIFAR100) == sorted(
        CIFAR100
    )  # CIFAR-100 labels are alphabetical
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert (
        labels[0].startswith("tench")
        and labels[285] == "Egyptian cat"
        and labels[999].startswith("toilet tissue")
    )
    assert PAPER_MODELS["roberta-large-sst5"].labels()[0] == "very negative"
    assert PAPER_MODELS["roberta-large-imdb"].labels() == ("negative", "positive")


def test_paper_preprocessing_resizes_to_a_square_then_crops() -> None:
    # A 600 x 300 image, black on its left third: resized to a 248 x 248 square (224 / 0.9) the black ends
    # at column 83, so 71 columns after the centre crop (an aspect-keeping resize would leave 29).
    image = Image.new("RGB", (600, 300), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 200, 300))
    pixels = create_transform(**PAPER_MODELS["beit-large-imagenet1k"].data_config)(image)
    assert pixels.shape == (3, 224, 224)
    dark_columns = int((pixels[0, 112] < 0).sum())
    assert abs(dark_columns - 71) <= 1
    assert float(pixels.min()) == pytest.approx(-1.0) and float(pixels.max()) == pytest.approx(1.0)
    cifar = create_transform(**PAPER_MODELS["beit-large-cifar10"].data_config)(Image.new("RGB", (32, 32)))
    assert cifar.shape == (3, 224, 224)
