"""Export writes every requested format; raw credit round-trips through .npz + JSON and redraws the same."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from creditlens.viz import (
    RawCredit,
    depth_grid_figure,
    export,
    figure_bytes,
    load_raw,
    overlay_figure,
    raw_credit,
    standard_figures,
    token_figure,
)

from _viz_helpers import image_explanation, render, text_explanation

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def image_raw() -> RawCredit:
    pixels = torch.linspace(-2, 2, 2 * 3 * 24 * 32).reshape(2, 3, 24, 32)  # normalised pixels, a batch
    return raw_credit(image_explanation(), 0, model="fashion-mnist-vit", image=pixels)


@pytest.fixture(scope="module")
def text_raw() -> RawCredit:
    return raw_credit(text_explanation(), 0, "positive", model="sst2-minilm")


def test_raw_credit_of_an_image_explanation(image_raw: RawCredit) -> None:
    explanation = image_explanation()
    assert image_raw.cls == 2 and image_raw.label == "Ankle boot"  # sample 0's top class by default
    method = explanation.method  # the title names the method that made the credit
    assert image_raw.title == f"fashion-mnist-vit — Ankle boot (p = {explanation.probs[0, 2]:.1%}), {method}"
    np.testing.assert_array_equal(image_raw.grid(), explanation.grid(2)[0].numpy())
    np.testing.assert_array_equal(
        image_raw.grid(per_depth=True), explanation.grid(2, per_depth=True)[0].numpy()
    )
    assert image_raw.image.shape == (24, 32, 3) and image_raw.image.dtype == np.uint8
    assert image_raw.hidden.tolist() == [True] + [False] * 12


def test_raw_credit_of_a_text_explanation(text_raw: RawCredit) -> None:
    explanation = text_explanation()
    assert text_raw.label == "positive" and len(text_raw.tokens) == 12  # padding dropped (none in sample 0)
    np.testing.assert_allclose(text_raw.per_sentence(), explanation.per_sentence("positive")[0].numpy())
    assert text_raw.sentences() == explanation.sentences(0)
    assert text_raw.token_strings()[:6] == ["[CLS]", "A", "fine", "<", "film", ">."]
    assert text_raw.token_gaps()[:6] == [True, True, True, True, False, False]
    short = raw_credit(explanation, 1, 0)
    assert short.tokens == ("[CLS]", "dull", ".", "[SEP]") and short.credit.shape == (4, 4)


def test_export_writes_every_requested_format(image_raw: RawCredit, tmp_path: Path) -> None:
    figures = {"overlay": overlay_figure(image_raw.image, image_raw.grid(), title=image_raw.title)}
    formats = ("png", "svg", "pdf", "npz")
    written = export(figures, tmp_path / "out", "boot", raw=image_raw, formats=formats, dpi=80)
    names = [p.name for p in written]
    assert names == ["boot_overlay.png", "boot_overlay.svg", "boot_overlay.pdf", "boot.npz", "boot.json"]
    assert all(p.exists() for p in written)
    for path in written:
        if path.suffix == ".png":
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            assert pixels.shape[0] > 50 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not blank
        elif path.suffix == ".svg":
            assert ET.parse(path).getroot().tag.endswith("svg")
        elif path.suffix == ".pdf":
            assert path.read_bytes().startswith(b"%PDF")
    meta = json.loads((tmp_path / "out" / "boot.json").read_text())
    assert meta["model"] == "fashion-mnist-vit" and meta["class"]["name"] == "Ankle boot"
    assert meta["positions"]["grid_size"] == [3, 4] and meta["depths"] == [0, 1, 2]


def test_export_of_text_writes_html_by_default(text_raw: RawCredit, tmp_path: Path) -> None:
    written = export(text_raw, tmp_path, "review", dpi=60)
    figures = ["depth_tokens", "sentences", "tokens"]
    expected = [f"review_{f}.{ext}" for f in figures for ext in ("pdf", "png", "svg")]
    assert sorted(p.name for p in written) == sorted([*expected, "review.html", "review.json", "review.npz"])
    page = (tmp_path / "review.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "&lt;" in page and "sst2-minilm — positive" in page


def test_export_of_figures_and_of_an_explanation(tmp_path: Path) -> None:
    figure = token_figure(["a", "b"], [1.0, -1.0])
    assert [p.name for p in export(figure, tmp_path, "one", formats=["PNG", ".svg"])] == [
        "one.png",
        "one.svg",
    ]
    written = export({"a": figure, "b": figure}, tmp_path, "two", formats=["pdf"])
    assert [p.name for p in written] == ["two_a.pdf", "two_b.pdf"]
    assert load_raw(next(p for p in export(text_explanation(), tmp_path, "t", formats=["npz"]))).cls == 1


def test_export_rejects_bad_formats(image_raw: RawCredit, tmp_path: Path) -> None:
    figure = token_figure(["a"], [1.0])
    with pytest.raises(ValueError, match="valid formats: png, svg, pdf, html, npz"):
        export(figure, tmp_path, "x", formats=["png", "jpeg"])
    with pytest.raises(ValueError, match="need the raw credit"):
        export(figure, tmp_path, "x", formats=["npz"])
    with pytest.raises(ValueError, match="text credit only"):
        export(image_raw, tmp_path, "x", formats=["html"])
    with pytest.raises(ValueError, match="valid formats: png, svg, pdf"):
        figure_bytes(figure, "html")
    assert not list(tmp_path.iterdir())


def test_vector_exports_are_reproducible() -> None:
    figure = depth_grid_figure(np.arange(8.0).reshape(2, 2, 2))
    assert figure_bytes(figure, "svg") == figure_bytes(figure, "svg")
    assert figure_bytes(figure, "pdf") == figure_bytes(figure, "pdf")


@pytest.mark.parametrize("kind", ["image", "text"])
def test_raw_round_trip_redraws_identical_figures(kind: str, image_raw, text_raw, tmp_path: Path) -> None:
    raw = image_raw if kind == "image" else text_raw
    npz, sidecar = export(raw, tmp_path, "raw", formats=["npz"])
    for path in (npz, sidecar, tmp_path / "raw"):
        loaded = load_raw(path)
        np.testing.assert_array_equal(loaded.credit, raw.credit)
        np.testing.assert_array_equal(loaded.scores, raw.scores)
        assert (loaded.kind, loaded.model, loaded.labels, loaded.cls, loaded.depths) == (
            raw.kind,
            raw.model,
            raw.labels,
            raw.cls,
            raw.depths,
        )
    original = standard_figures(raw)
    redrawn = standard_figures(loaded)
    assert original.keys() == redrawn.keys()
    for name in original:
        np.testing.assert_array_equal(render(redrawn[name]), render(original[name]), err_msg=name)
    if kind == "image":  # the figure drawn from the explanation itself, and from the loaded file
        from_model = depth_grid_figure(image_explanation().grid(2, per_depth=True)[0], title=raw.title)
        from_file = depth_grid_figure(loaded.grid(per_depth=True), title=loaded.title)
        np.testing.assert_array_equal(render(from_file), render(from_model))


def test_load_raw_rejects_other_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not creditlens raw credit"):
        load_raw(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError):
        load_raw(tmp_path / "missing.npz")


def test_exported_files_are_one_column_or_one_page_wide(image_raw: RawCredit, text_raw: RawCredit) -> None:
    column = overlay_figure(image_raw.image, image_raw.grid(), title=image_raw.title)
    page = depth_grid_figure(image_raw.grid(per_depth=True), depths=image_raw.depths, width=7.0)
    for figure, inches in ((column, 3.5), (page, 7.0)):
        with Image.open(io.BytesIO(figure_bytes(figure, "png", dpi=100))) as png:
            assert png.width == round(inches * 100)
        pdf = figure_bytes(figure, "pdf").decode("latin-1")
        box = re.search(r"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
        assert box and float(box.group(1)) == pytest.approx(inches * 72)  # PDF points
