"""A user's labelled data: image folders and text CSVs, with errors that name the offending path or row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from creditlens.attribution.data.userdata import load_image_folder, load_text_csv

LABELS = ["cat", "dog", "bird"]


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), value).save(path)


def test_folders_named_by_label_or_index(tmp_path: Path) -> None:
    _image(tmp_path / "dog" / "a.png", 10)
    _image(tmp_path / "2" / "b.png", 20)
    _image(tmp_path / "2" / "c.png", 30)
    data = load_image_folder(tmp_path, LABELS)
    assert data.labels.tolist() == [2, 2, 1]  # folders sorted: "2" before "dog"
    assert [int(np.asarray(x)[0, 0]) for x in data.inputs] == [20, 30, 10]


def test_unknown_class_folder_names_the_folder(tmp_path: Path) -> None:
    _image(tmp_path / "horse" / "a.png", 0)
    with pytest.raises(
        ValueError, match=r"horse.*'horse' is no class of this model; name each class folder by"
    ):
        load_image_folder(tmp_path, LABELS)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"broken\.png"):
        load_image_folder(tmp_path, LABELS)
    (tmp_path / "cat" / "broken.png").unlink()
    (tmp_path / "cat" / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"notes\.txt is not an image file"):
        load_image_folder(tmp_path, LABELS)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(tmp_path, LABELS)


def test_csv_by_label_or_index(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text('text,label\n"A fine, fine film.",dog\nDull.,0\n')
    data = load_text_csv(path, LABELS)
    assert data.inputs == ["A fine, fine film.", "Dull."]
    assert data.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("words,label\nhi,cat\n", "lacks the column"),
        ("text,label\nhi,cat\n  ,dog\n", "line 3: the text is empty"),
        ("text,label\nhi,cow\n", "line 2: unknown class name 'cow'"),
        ("text,label\n", "no rows"),
    ],
)
def test_bad_csv_names_the_row(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_text_csv(path, LABELS)
