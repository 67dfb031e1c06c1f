"""The model zoo: bundled models load offline and reach their targets; the paper's show what to download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from creditlens.attribution.zoo import BUNDLED_DIR, list_models, load_model, load_saved_model, save_model
from creditlens.routing import RoutingHead

BUNDLED = ("fashion-mnist-vit", "rotten-tomatoes-minilm")


def test_zoo_lists_bundled_then_paper_models(tmp_path: Path) -> None:
    infos = {i.name: i for i in list_models(tmp_path)}
    assert list(infos)[:2] == list(BUNDLED)
    assert {"beit-large-imagenet1k", "roberta-large-sst5"} <= set(infos)
    for name in BUNDLED:
        assert infos[name].status == "ready" and infos[name].source == "bundled"
    missing = infos["beit-large-cifar10"]
    assert missing.status == "missing"
    assert "pretrained_cifar10_head_for_microsoft-beit-large-patch16-224.state_dict" in missing.detail
    assert (
        str(tmp_path) in missing.detail
        and "github.com/glassroom/heinsen_routing_2022_paper" in missing.detail
    )
    (tmp_path / "pretrained_cifar10_head_for_microsoft-beit-large-patch16-224.state_dict").write_bytes(b"")
    assert {i.name: i for i in list_models(tmp_path)}["beit-large-cifar10"].status == "ready"


def test_bundled_models_are_small_and_labelled() -> None:
    size = sum(p.stat().st_size for p in BUNDLED_DIR.rglob("*") if p.is_file())
    assert size < 10 * 2**20
    infos = {i.name: i for i in list_models()}
    assert (
        infos["fashion-mnist-vit"].labels[9] == "Ankle boot" and len(infos["fashion-mnist-vit"].labels) == 10
    )
    assert infos["rotten-tomatoes-minilm"].labels == ("negative", "positive")


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*fashion-mnist-vit"):
        load_model("resnet")


def test_missing_paper_head_says_what_to_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITLENS_PAPER_DIR", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"Download pretrained_sst2_head_for_roberta-large\.state_dict"
    ):
        load_model("roberta-large-sst2")


def test_paper_dir_keyword_is_where_the_paper_heads_are_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`paper_dir=` (as `--paper-dir` on the command line) wins over `$CREDITLENS_PAPER_DIR`."""
    monkeypatch.setenv("CREDITLENS_PAPER_DIR", str(tmp_path / "elsewhere"))
    folder = tmp_path / "heads"
    assert str(folder) in {i.name: i for i in list_models(paper_dir=folder)}["roberta-large-sst2"].detail
    with pytest.raises(FileNotFoundError) as error:
        load_model("roberta-large-sst2", paper_dir=folder)
    message = str(error.value)
    assert str(folder / "pretrained_sst2_head_for_roberta-large.state_dict") in message
    assert "paper_dir=" in message and "--paper-dir" in message and "CREDITLENS_PAPER_DIR" in message


def _saved_toy_model(tmp_path: Path) -> Path:
    head = RoutingHead(d_depth=5, d_emb=96, n_classes=10, n_hid=4)
    backbone = {"type": "vit-dir", "path": str((BUNDLED_DIR / "fashion-mnist-vit").resolve())}
    return save_model(tmp_path / "toy", head, name="toy", task="image", labels=[str(i) for i in range(10)],
                      backbone=backbone, metrics={}, command="test")  # fmt: skip


def test_saved_model_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model.json is missing"):
        load_saved_model(tmp_path)
    folder = _saved_toy_model(tmp_path)
    config = json.loads((folder / "model.json").read_text())
    config["head"]["n_hid"] = 8  # the file holds a head with 4
    (folder / "model.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"key 'route.0.W_F1' has shape \(4, 96\), expected \(8, 96\)"):
        load_saved_model(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_saved_model(folder)


def test_a_head_with_its_own_hidden_size_is_saved_and_loaded_back(tmp_path: Path) -> None:
    torch.manual_seed(0)
    # the bundled ViT's depths and width, with hidden vectors of 16 elements instead of 128
    head = RoutingHead(d_depth=7, d_emb=128, n_classes=10, n_hid=4, d_hid=16).eval()
    assert head.route[0].W_F2.shape == (128, 16) and head.route[1].W_F2.shape == (16, 16)
    backbone = {"type": "vit-dir", "path": str((BUNDLED_DIR / "fashion-mnist-vit").resolve())}
    save_model(tmp_path / "small", head, name="small", task="image", labels=[str(i) for i in range(10)],
               backbone=backbone, metrics={}, command="test")  # fmt: skip
    loaded = load_saved_model(tmp_path / "small").classifier.head
    assert loaded.d_hid == 16
    states = torch.randn(2, 49, 7, 128)
    torch.testing.assert_close(loaded(states), head(states), rtol=0, atol=0)


def _fashion_test_accuracy(classifier: torch.nn.Module) -> float:
    from creditlens.attribution.data.datasets import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            batch = list(images[start : start + 500].numpy())
            correct += int((classifier(batch).argmax(-1) == labels[start : start + 500]).sum())
    return correct / len(images)


# The targets are 0.90 (Fashion-MNIST) and 0.80 (Rotten Tomatoes); the bundled models reach 0.902 and
# 0.794 (README). These tests hold what is shipped: the accuracy recorded with each model is reproduced offline;
# the vision model's reaches the target, the text model's is above the last-layer baseline named in the README
# (0.767 on the snippets).
@pytest.mark.slow
def test_fashion_mnist_vit_reproduces_its_accuracy_on_the_full_test_set() -> None:
    model = load_model("fashion-mnist-vit")
    accuracy = _fashion_test_accuracy(model.classifier)
    assert accuracy >= 0.90
    assert accuracy == pytest.approx(model.info.metrics["test_accuracy"], abs=3e-3)


@pytest.mark.slow
def test_rotten_tomatoes_minilm_reproduces_its_accuracy_on_its_test_split() -> None:
    from creditlens.attribution.data.datasets import rotten_tomatoes_splits

    model = load_model("rotten-tomatoes-minilm")
    test = rotten_tomatoes_splits()["test"]
    labels = np.array([y for _, y in test])
    predicted = []
    with torch.no_grad():
        for start in range(0, len(test), 64):
            predicted += model.classifier([t for t, _ in test[start : start + 64]]).argmax(-1).tolist()
    accuracy = float((np.array(predicted) == labels).mean())
    assert accuracy >= 0.785
    assert accuracy == pytest.approx(model.info.metrics["test_accuracy"], abs=5e-3)
