"""A user's labelled data: a folder of images with one subfolder per class, or a CSV of texts with labels.

Subfolders and CSV labels name a class by index (`3`) or by label (`Dress`). Everything is checked before any
model runs, and a problem names the offending file or row.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import class_index
from .image_files import open_image


@dataclass(frozen=True)
class LabelledData:
    """Inputs a backbone can encode (images or texts) with their class indices."""

    inputs: Sequence[Any]
    labels: np.ndarray  # [N] int64

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels.")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def load_image_folder(root: str | Path, labels: Sequence[str]) -> LabelledData:
    """Images under `root/<class>/` as uint8 arrays, with class indices.

    Args:
        root: a folder with one subfolder per class, named by class index or label.
        labels: the model's class names.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: give a folder with one subfolder of images per class.")
    inputs, targets = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        cls = _class_of(folder.name, labels, where=str(folder), folder=True)
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(
                    f"{path} is not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})."
                )
            inputs.append(np.asarray(open_image(path)))
            targets.append(cls)
    if not inputs:
        raise ValueError(
            f"{root} holds no images: put them in one subfolder per class (e.g. {root}/0/a.png)."
        )
    return LabelledData(inputs, np.asarray(targets, dtype=np.int64))


def load_text_csv(path: str | Path, labels: Sequence[str]) -> LabelledData:
    """Texts and class indices from a CSV file with a header and the columns `text` and `label`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist: give a CSV file with columns text,label.")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"text", "label"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f"{path} lacks the column(s) {', '.join(sorted(missing))}: the header must be text,label."
                )
            rows = list(reader)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: {err}.") from None
    inputs, targets = [], []
    for line, row in enumerate(rows, start=2):
        text = (row["text"] or "").strip()
        if not text:
            raise ValueError(f"{path}, line {line}: the text is empty.")
        inputs.append(text)
        targets.append(_class_of((row["label"] or "").strip(), labels, where=f"{path}, line {line}"))
    if not inputs:
        raise ValueError(f"{path} has a header but no rows.")
    return LabelledData(inputs, np.asarray(targets, dtype=np.int64))


def _class_of(name: str, labels: Sequence[str], where: str, folder: bool = False) -> int:
    """A class given by exact label, else by index, else by a name `class_index` recognises (`folder`: the
    name is a folder's, so the error offers only names a folder can have)."""
    if name in labels:
        return list(labels).index(name)
    try:
        return class_index(labels, int(name) if name.lstrip("-").isdigit() else name)
    except ValueError as err:
        if not folder:
            raise ValueError(f"{where}: {err}") from None
        # A folder name cannot hold '/': offer the names that can be folder names, and the indices.
        usable = ", ".join(repr(label) for label in labels if "/" not in label)
        raise ValueError(
            f"{where}: {name!r} is no class of this model; name each class folder by the class index "
            f"(0..{len(labels) - 1}) or by a class name: {usable}."
        ) from None
