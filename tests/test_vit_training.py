"""Training, saving and loading the small Fashion-MNIST ViT backbone (on a tiny synthetic IDX dataset)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import creditlens.attribution
from creditlens.app.cli import main as cli_main
from creditlens.attribution.backbones.saved_vit import evaluate_accuracy, load_vit_backbone
from creditlens.attribution.backbones.vision import VisionBackbone
from creditlens.attribution.data.datasets import FASHION_MNIST_DIR, load_fashion_mnist
from creditlens.attribution.training.vit import train_vit_backbone

TINY = {"embed_dim": 16, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0}
BUNDLED = Path(creditlens.attribution.__file__).parent / "bundled" / "fashion-mnist-vit"


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes(), compresslevel=1))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fashion-MNIST-shaped IDX files: 5,100 training and 100 test images whose class is a bright row."""
    folder = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5100), ("t10k", 100)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 64, (n, 28, 28), dtype=np.uint8)
        images[np.arange(n), 2 + 2 * labels] = 255
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return _train_tiny(tmp_path_factory.mktemp("vit"), data_dir, command="test")


def _train_tiny(out: Path, data_dir: Path, **kwargs):
    """Two epochs of the tiny ViT on 256 images, one thread, no progress bars."""
    return train_vit_backbone(
        out, epochs=2, limit=256, data_dir=data_dir, model_kwargs=TINY, batch_size=64, val_size=200,
        num_threads=1, progress=False, **kwargs,
    )  # fmt: skip


def test_training_writes_a_loadable_backbone(trained, data_dir: Path) -> None:
    assert sorted(p.name for p in trained.directory.iterdir()) == ["backbone.json", "backbone.safetensors"]
    config = json.loads((trained.directory / "backbone.json").read_text())
    assert config == json.loads(json.dumps(trained.config))
    metrics = config["metrics"]
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (256, 200, 100)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and config["command"] == "test" and config["seed"] == 0
    assert config["model_kwargs"]["embed_dim"] == 16 and config["data_config"]["input_size"] == [1, 28, 28]

    loaded = load_vit_backbone(trained.directory)
    pixels = torch.randn(3, 1, 28, 28)  # [B, C, H, W]
    with torch.inference_mode():
        torch.testing.assert_close(loaded(pixels), trained.model(pixels), rtol=0, atol=0)
    mean, std = config["data_config"]["mean"][0], config["data_config"]["std"][0]
    images, labels = load_fashion_mnist("test", data_dir)
    assert evaluate_accuracy(loaded, images, labels, mean=mean, std=std) == metrics["test_accuracy"]


def test_loaded_backbone_carries_its_preprocessing(trained) -> None:
    backbone = VisionBackbone(load_vit_backbone(trained.directory))
    assert backbone.data_config["mean"] == tuple(trained.config["data_config"]["mean"])
    assert backbone.preprocess(np.zeros((28, 28), np.uint8)).shape == (1, 1, 28, 28)
    assert backbone(torch.zeros(2, 1, 28, 28)).shape == (2, 49, 3, 16)  # [B, n_pos, d_depth, d_emb]


def test_training_is_deterministic(trained, data_dir: Path, tmp_path: Path) -> None:
    again = _train_tiny(tmp_path, data_dir)
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[key], value, rtol=0, atol=0)


def test_training_goes_on_from_a_saved_backbone(trained, data_dir: Path, tmp_path: Path) -> None:
    common = {
        "epochs": 1,
        "limit": 64,
        "data_dir": data_dir,
        "val_size": 200,
        "num_threads": 1,
        "progress": False,
    }
    again = train_vit_backbone(tmp_path / "next", init=trained.directory, seed=1, command="next", **common)
    assert again.config["model_kwargs"] == trained.config["model_kwargs"]
    assert again.config["data_config"] == trained.config["data_config"]  # the first run's normalisation
    assert again.config["command"] == "next" and again.config["init"]["command"] == "test"
    assert again.config["init"]["metrics"] == trained.config["metrics"]
    with pytest.raises(ValueError, match=r"model_kwargs \['depth'\] differ"):
        train_vit_backbone(tmp_path / "bad", init=trained.directory, model_kwargs={"depth": 3}, **common)


def test_loader_errors(trained, tmp_path: Path) -> None:
    state = safetensors.torch.load_file(str(trained.directory / "backbone.safetensors"))
    (tmp_path / "backbone.json").write_text((trained.directory / "backbone.json").read_text())
    with pytest.raises(FileNotFoundError, match="backbone.safetensors"):
        load_vit_backbone(tmp_path)

    renamed = dict(state)
    renamed["pos_embed_typo"] = renamed.pop("pos_embed")
    safetensors.torch.save_file(renamed, str(tmp_path / "backbone.safetensors"))
    with pytest.raises(ValueError, match="key 'pos_embed' is missing"):
        load_vit_backbone(tmp_path)

    safetensors.torch.save_file(
        {**state, "extra.weight": torch.zeros(1)}, str(tmp_path / "backbone.safetensors")
    )
    with pytest.raises(ValueError, match="key 'extra.weight' is unexpected"):
        load_vit_backbone(tmp_path)

    safetensors.torch.save_file(
        {**state, "head.bias": torch.zeros(3)}, str(tmp_path / "backbone.safetensors")
    )
    with pytest.raises(ValueError, match=r"'head.bias' has shape \(3,\)"):
        load_vit_backbone(tmp_path)

    (tmp_path / "backbone.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_vit_backbone(tmp_path)

    (tmp_path / "backbone.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_vit_backbone(tmp_path)
    (tmp_path / "backbone.json").unlink()
    with pytest.raises(FileNotFoundError, match="backbone.json"):
        load_vit_backbone(tmp_path)


def test_command_line(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--out",
        str(tmp_path / "out"),
        "--epochs",
        "1",
        "--limit",
        "64",
        "--data-dir",
        str(data_dir),
        "--embed-dim",
        "16",
        "--depth",
        "1",
        "--num-heads",
        "2",
        "--seed",
        "3",
        "--threads",
        "1",
    ]
    # `creditlens train-backbone` is the one command line; it records itself in backbone.json.
    assert cli_main(["train-backbone", *args, "--lr", "1e-3", "--augment", "none"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    config = json.loads((tmp_path / "out" / "backbone.json").read_text())
    assert config["command"].startswith("creditlens train-backbone --out ")
    assert config["seed"] == 3 and config["model_kwargs"]["depth"] == 1
    assert config["training"]["lr"] == 1e-3 and config["model_kwargs"]["embed_dim"] == 16

    assert cli_main(["train-backbone", *args[:2], "--epochs", "1", "--data-dir", str(tmp_path / "none")]) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    assert (
        cli_main(
            ["train-backbone", "--out", str(tmp_path / "x"), "--epochs", "0", "--data-dir", str(data_dir)]
        )
        == 2
    )


@pytest.mark.slow
def test_bundled_backbone_accuracy() -> None:
    """The committed fashion-mnist-vit scores what its backbone.json says on the full 10,000 test images.

    It scores 90.24%; issue 4 asks >= 90% of the classifier built on it (its routing head scores 90.21%).
    """
    if (
        not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file()
        and "CREDITLENS_FASHION_MNIST" not in os.environ
    ):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs Fashion-MNIST: apt-get install dataset-fashion-mnist (see .ci/run).")
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    config = json.loads((BUNDLED / "backbone.json").read_text())
    model = load_vit_backbone(BUNDLED)
    assert sum(p.numel() for p in model.parameters()) <= 1_000_000
    assert (BUNDLED / "backbone.safetensors").stat().st_size < 4_000_000
    images, labels = load_fashion_mnist("test")
    data_config = config["data_config"]
    accuracy = evaluate_accuracy(
        model, images, labels, mean=data_config["mean"][0], std=data_config["std"][0]
    )
    assert accuracy >= 0.90
    assert abs(accuracy - config["metrics"]["test_accuracy"]) <= 2e-4  # what backbone.json says, to 2 images
