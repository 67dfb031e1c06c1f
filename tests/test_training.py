"""Head training: a short run produces a model folder that loads and predicts; torchrun runs data-parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from creditlens.app.cli import main
from creditlens.attribution.data import LabelledData
from creditlens.attribution.training import TrainConfig, train_head
from creditlens.attribution.training.cache import build_cache
from creditlens.attribution.zoo import BUNDLED_DIR, build_backbone, load_saved_model

VIT = str(BUNDLED_DIR / "fashion-mnist-vit")


def _train_cli(out: Path, cache: Path, *extra: str) -> list[str]:
    return ["train", "--backbone", f"vit-dir:{VIT}", "--data", "fashion-mnist", "--out", str(out),
            "--epochs", "1", "--limit", "256", "--batch-size", "32", "--cache-dir", str(cache), *extra]  # fmt: skip


def test_short_training_run_gives_a_model_that_loads_and_predicts(tmp_path: Path, capsys) -> None:
    assert main(_train_cli(tmp_path / "model", tmp_path / "cache")) == 0
    assert "saved model" in capsys.readouterr().out
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["labels"][0] == "T-shirt/top" and config["command"].startswith("creditlens train")
    assert config["metrics"]["train_size"] == 256 and 0.0 <= config["metrics"]["test_accuracy"] <= 1.0
    model = load_saved_model(tmp_path / "model")  # the backbone path is stored relative to the model
    from creditlens.attribution.data.datasets import load_fashion_mnist

    images, _ = load_fashion_mnist("test")
    scores = model.classifier(list(images[:8].numpy()))
    assert scores.shape == (8, 10) and torch.isfinite(scores).all()
    explanation = model.classifier.explain(list(images[:2].numpy()))
    assert explanation.credit.shape == (2, 49, explanation.credit.shape[2], 10)


def test_refit_trains_on_training_and_validation_splits_together(tmp_path: Path, capsys) -> None:
    extra = ("--refit", "--epochs", "2", "--d-hid", "32")
    assert main(_train_cli(tmp_path / "model", tmp_path / "cache", *extra)) == 0
    assert "test accuracy" in capsys.readouterr().out
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["head"]["d_hid"] == 32 and load_saved_model(tmp_path / "model").classifier.head.d_hid == 32
    metrics = config["metrics"]
    assert metrics["train_size"] == 512  # 256 training and 256 validation images
    # no validation split is left to choose an epoch on, so the last one is kept and none is reported
    assert "val_accuracy" not in metrics and "best_epoch" not in metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_size"] == 256


def test_training_learns_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    from creditlens.attribution.data.datasets import load_fashion_mnist

    backbone = build_backbone({"type": "vit-dir", "path": VIT}, Path.cwd())
    images, labels = load_fashion_mnist("test")
    data = [
        LabelledData(list(images[a:b].numpy()), labels[a:b].numpy()) for a, b in ((0, 2000), (2000, 2200))
    ]
    config = TrainConfig(epochs=3, batch_size=16, n_hid=16, lr=3e-3)
    head, metrics = train_head(backbone, "test-vit", 10, data[0], data[1], None, config, tmp_path)
    assert len(metrics["val_accuracy_per_epoch"]) == 3
    assert metrics["val_accuracy"] == max(metrics["val_accuracy_per_epoch"]) > 0.5  # far above chance (0.1)
    cache = build_cache(backbone, "test-vit", data[1].inputs, tmp_path)  # reused, not rebuilt
    states, _ = cache.batch(np.arange(200))
    predicted = head(states).argmax(-1).numpy()
    assert (predicted == data[1].labels).mean() == pytest.approx(metrics["val_accuracy"])


def test_cache_is_keyed_by_backbone_and_inputs(tmp_path: Path) -> None:
    backbone = build_backbone({"type": "vit-dir", "path": VIT}, Path.cwd())
    images = [np.full((28, 28), v, dtype=np.uint8) for v in (0, 128, 255)]
    first = build_cache(backbone, "a", images, tmp_path)
    assert build_cache(backbone, "a", images, tmp_path).states.filename == first.states.filename
    assert build_cache(backbone, "b", images, tmp_path).states.filename != first.states.filename
    assert build_cache(backbone, "a", images[:2], tmp_path).states.filename != first.states.filename
    assert (
        first.states.shape == (3, 49, backbone.d_depth, backbone.d_emb) and first.states.dtype == np.float16
    )


@pytest.mark.slow
def test_torchrun_trains_data_parallel(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "creditlens.app.cli", *_train_cli(tmp_path / "model", tmp_path / "cache", "--threads", "1")]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=600)
    config = json.loads((tmp_path / "model" / "model.json").read_text())
    assert config["metrics"]["processes"] == 2
    assert load_saved_model(tmp_path / "model").classifier.head.n_classes == 10
