"""The Streamlit app in process (AppTest): every flow of issue 6, every bad input, one forward pass per input,
and the bytes of every download."""

from __future__ import annotations

import io
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import creditlens.app
from creditlens.app import commands_app, downloads, samples, session, text_limit, views
from creditlens.app.cli import main
from creditlens.app.domain import domain_note
from creditlens.attribution import Classifier
from creditlens.attribution.data.datasets import load_fashion_mnist
from creditlens.attribution.data.image_files import open_image
from creditlens.viz import RawCredit, load_raw

APP = Path(creditlens.app.__file__).with_name("streamlit_app.py")
VISION = "fashion-mnist-vit"
TEXT = "rotten-tomatoes-minilm"


def _png(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _noise(seed: int, size: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    _assert_clean(at)
    return at


def _assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _class_box(at: AppTest, prefix: str = "class-"):
    return next(box for box in at.selectbox if box.key and box.key.startswith(prefix))


def _figures(at: AppTest) -> list:
    """The credit figures on the page (the input images above the prediction have captions, figures none)."""
    return [image for image in at.image if not image.proto.imgs[0].caption]


def _percent(text: str) -> float:
    """A probability as the page prints it ("12.5%", "< 0.1%", "> 99.9%") in percent."""
    value = float(text.lstrip("<> ").rstrip("%"))
    return value - 0.05 if text.startswith("<") else value + 0.05 if text.startswith(">") else value


def _errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads() -> Iterator[None]:
    """The app runs torch on one thread (`session.limit_threads`); other test modules get theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def forward_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts `Classifier.explain` calls (one forward pass each) made by the app."""
    calls: list[int] = []
    original = Classifier.explain

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Classifier, "explain", counted)
    return calls


def test_first_load_explains_a_bundled_sample_without_a_click() -> None:
    at = _app()
    assert at.selectbox(key="model").value == VISION
    assert at.selectbox(key="sample").value == samples.image_samples()[0]
    assert not at.error and not at.warning
    assert len(_figures(at)) == 1  # the overlay
    table = next(m.value for m in at.markdown if m.value.startswith("| class | probability |"))
    assert len(table.splitlines()) == 2 + 5  # the top 5 classes
    box = _class_box(at)
    probs = [_percent(label.rsplit("(", 1)[1].rstrip(")")) for label in box.options]
    assert len(box.options) == 10 and probs == sorted(probs, reverse=True)  # most probable first
    assert box.index == 0  # the top class is explained first
    assert {b.proto.label for b in at.download_button} == {"PNG", "SVG", "PDF", "NPZ", "JSON"}


def test_any_class_every_view_and_colour_mode_and_comparison(forward_passes: list[int]) -> None:
    at = _app()
    before = len(forward_passes)  # the default sample, unless another test explained it already
    at.file_uploader(key="upload").upload("noise.png", _png(_noise(1)), "image/png").run()
    _assert_clean(at)
    assert len(forward_passes) == before + 1
    box = _class_box(at)
    box.select_index(len(box.options) - 1).run()  # the least probable class
    _assert_clean(at)
    for view in views.IMAGE_VIEWS:
        for mode in ("magnitude", "signed"):
            at.radio(key="view-image").set_value(view).run()
            at.radio(key="mode").set_value(mode).run()
            _assert_clean(at)
            assert len(_figures(at)) == 1 and not at.error
    at.radio(key="view-image").set_value("One depth").run()
    at.slider(key=f"depth-{VISION}").set_value(0).run()
    _assert_clean(at)
    at.radio(key="view-image").set_value("Overlay").run()
    at.slider(key="alpha").set_value(0.9).run()
    _assert_clean(at)
    compare = _class_box(at, "compare-")
    compare.select_index(2).run()
    _assert_clean(at)
    assert len(_figures(at)) == 2  # the two classes side by side
    # Switching class, view, depth, opacity or colour never reran the model.
    assert len(forward_passes) == before + 1


def test_a_class_switch_reruns_no_model(forward_passes: list[int]) -> None:
    at = _app()
    before = len(forward_passes)  # the default sample, unless another test explained it already
    at.file_uploader(key="upload").upload("noise.png", _png(_noise(2)), "image/png").run()
    assert len(forward_passes) == before + 1
    urls = {_figures(at)[0].proto.imgs[0].url}
    for index in (1, 2, 3, 0):
        _class_box(at).select_index(index).run()
        _assert_clean(at)
        assert _class_box(at).index == index
        urls.add(_figures(at)[0].proto.imgs[0].url)
    assert len(urls) == 4  # a new figure for each class (back to the first: the same one)
    assert len(forward_passes) == before + 1


@pytest.mark.parametrize(
    ("name", "fmt", "mime"), [("photo.jpg", "JPEG", "image/jpeg"), ("photo.webp", "WEBP", "image/webp")]
)
def test_jpeg_and_webp_uploads_are_explained(name: str, fmt: str, mime: str) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    at = _app()
    at.file_uploader(key="upload").upload(name, _png(rgb, fmt), mime).run()
    _assert_clean(at)
    assert not at.error and len(_figures(at)) == 1
    assert any(name in c.value for c in at.caption)


def _truncated_png() -> bytes:
    data = _png(_noise(4, 64))
    return data[: len(data) // 2]


BAD_IMAGES = {
    "corrupt": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "truncated or corrupt|not an image"),
    "truncated": (_truncated_png(), "truncated or corrupt"),
    "text": (b"just some notes, not a picture\n" * 10, "not an image"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_a_bad_upload_shows_a_message_and_the_next_input_works(case: str) -> None:
    data, pattern = BAD_IMAGES[case]
    at = _app()
    at.file_uploader(key="upload").upload(f"{case}.png", data, "image/png").run()
    _assert_clean(at)
    assert re.search(pattern, _errors(at)), _errors(at)
    assert f"{case}.png" in _errors(at)
    assert not at.image
    at.file_uploader(key="upload").upload("good.png", _png(_noise(5)), "image/png").run()
    _assert_clean(at)
    assert not at.error and len(_figures(at)) == 1


def test_an_image_over_the_pixel_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session.MAX_PIXELS_ENV, "1000")
    at = _app()
    at.file_uploader(key="upload").upload("big.png", _png(_noise(6, 40)), "image/png").run()
    _assert_clean(at)
    assert "over the limit of 1,000" in _errors(at)
    at.file_uploader(key="upload").upload("small.png", _png(_noise(6, 28)), "image/png").run()
    assert not at.error and len(_figures(at)) == 1


def test_every_bundled_sample_is_explained() -> None:
    at = _app()
    names = samples.image_samples()
    assert sum("Fashion-MNIST" in n for n in names) == 10
    for name in names:
        at.selectbox(key="sample").select(name).run()
        _assert_clean(at)
        assert not at.error and len(_figures(at)) == 1, name


def _text_app() -> AppTest:
    at = _app()
    at.selectbox(key="model").select(TEXT).run()
    _assert_clean(at)
    return at


def test_text_model_shows_tokens_every_view_and_downloads(forward_passes: list[int]) -> None:
    at = _text_app()
    before = len(forward_passes)  # the first sample review, unless another test explained it already
    text = "A bright, tender film. The ending, sadly, falls flat."
    at.text_area(key="text").input(text).run()
    _assert_clean(at)
    assert not at.error and len(forward_passes) == before + 1
    body = at.html[0].proto.body
    for word in ("bright", "tender", "ending", "sadly", "flat"):
        assert word in body
    assert {b.proto.label for b in at.download_button} == {"PNG", "SVG", "PDF", "HTML", "NPZ", "JSON"}
    for view in views.TEXT_VIEWS:
        at.radio(key="view-text").set_value(view).run()
        _assert_clean(at)
        assert not at.error
    _class_box(at).select_index(1).run()
    _assert_clean(at)
    assert len(forward_passes) == before + 1


def test_sample_reviews_fill_the_text_area() -> None:
    at = _text_app()
    reviews = samples.text_samples()
    assert at.text_area(key="text").value == reviews[0]
    at.selectbox(key="review").select(reviews[2]).run()
    _assert_clean(at)
    assert at.text_area(key="text").value == reviews[2]
    assert not at.error and at.html


def test_empty_and_very_long_texts_show_messages() -> None:
    at = _text_app()
    at.text_area(key="text").input("   \n ").run()
    _assert_clean(at)
    assert "empty" in _errors(at)
    at.text_area(key="text").input("a fine film. " * 2000).run()  # 26,000 characters
    _assert_clean(at)
    assert not at.error
    assert any("26,000 characters" in w.value and "20,000" in w.value for w in at.warning)
    at.text_area(key="text").input("Short and sweet.").run()
    _assert_clean(at)
    assert not at.error and not at.warning and at.html


def test_a_missing_paper_model_says_what_to_download_and_the_app_keeps_working(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CREDITLENS_PAPER_DIR", str(tmp_path))
    at = _app()
    paper = next(o for o in at.selectbox(key="model").options if o.startswith("beit"))
    at.selectbox(key="model").select(paper).run()
    _assert_clean(at)
    message = " ".join(w.value for w in at.warning)
    assert "download https://" in message and str(tmp_path) in message
    at.selectbox(key="model").select(VISION).run()
    _assert_clean(at)
    assert not at.warning and len(_figures(at)) == 1


def test_a_broken_paper_model_file_is_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from creditlens.attribution import PAPER_MODELS

    name = next(n for n in PAPER_MODELS if n.startswith("roberta"))
    (tmp_path / PAPER_MODELS[name].head_file).write_bytes(b"not a state dict")
    monkeypatch.setenv("CREDITLENS_PAPER_DIR", str(tmp_path))
    at = _app()
    at.selectbox(key="model").select(name).run()
    _assert_clean(at)
    assert f"{name} could not be loaded" in _errors(at)
    at.selectbox(key="model").select(VISION).run()
    assert not at.error and len(_figures(at)) == 1


# The download helpers, on raw credit built by hand (no model needed).


def _image_raw() -> RawCredit:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    labels = ("T-shirt/top", "Ankle boot")
    credit = rng.normal(size=(1 + 7 * 7, 3))
    return RawCredit(
        "image", "vit", labels, 1, np.array([0.1, 2.0]), credit, (0, 1, 2), num_prefix_tokens=1,
        grid_size=(7, 7), image=image,
    )  # fmt: skip


def _text_raw() -> RawCredit:
    text = "Great cast. A dull <script> plot & ending!"
    words = ["Great", "cast", ".", "A", "dull", "<script>", "plot", "&", "ending", "!"]
    offsets, start = [(0, 0)], 0
    for word in words:
        start = text.index(word, start)
        offsets.append((start, start + len(word)))
        start += len(word)
    offsets.append((0, 0))
    tokens = ["[CLS]", *words, "[SEP]"]
    special = [True] + [False] * len(words) + [True]
    credit = np.random.default_rng(8).normal(size=(len(tokens), 4))
    return RawCredit(
        "text", "minilm", ("negative", "positive"), 0, np.array([0.3, -0.2]), credit, (0, 1, 2, 3),
        text=text, tokens=tuple(tokens), offsets=np.array(offsets), special=np.array(special),
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["image", "text"])
def test_every_view_downloads_as_png_svg_and_pdf(kind: str) -> None:
    raw = _image_raw() if kind == "image" else _text_raw()
    for view in views.views(kind):
        options = views.ViewOptions(mode="magnitude", alpha=0.3, depth=2)

        def build(view=view, options=options):
            return views.view_figure(raw, view, options)

        png = downloads.figure_file(build, "png")
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.width > 50 and image.height > 20
        svg = downloads.figure_file(build, "svg")
        assert ElementTree.fromstring(svg).tag.endswith("svg")
        pdf = downloads.figure_file(build, "pdf")
        assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")


def test_html_download_has_every_token_escaped() -> None:
    raw = _text_raw()
    html = downloads.html_file(raw, "signed").decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for word in raw.text.split():  # word pieces are joined into the text's words
        assert f">{word.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</span>" in html
    assert "<script>" not in html


@pytest.mark.parametrize("kind", ["image", "text"])
def test_raw_credit_downloads_load_back(kind: str, tmp_path: Path) -> None:
    raw = _image_raw() if kind == "image" else _text_raw()
    stem = downloads.file_stem(raw)
    files = downloads.raw_files(raw, stem)
    assert set(files) == {"npz", "json"}
    with np.load(io.BytesIO(files["npz"])) as arrays:
        np.testing.assert_array_equal(arrays["credit"], raw.credit)
        np.testing.assert_array_equal(arrays["scores"], raw.scores)
    meta = json.loads(files["json"])
    assert meta["class"]["name"] == raw.label and meta["credit"]["file"] == f"{stem}.npz"
    for fmt, data in files.items():
        (tmp_path / f"{stem}.{fmt}").write_bytes(data)
    loaded = load_raw(tmp_path / f"{stem}.json")
    np.testing.assert_array_equal(loaded.credit, raw.credit)
    assert loaded.labels == raw.labels and loaded.cls == raw.cls


def test_file_names_name_model_class_and_view() -> None:
    raw = _image_raw()
    assert downloads.file_stem(raw, "Per-depth grid") == "vit_ankle-boot_per-depth-grid"
    assert downloads.file_stem(raw) == "vit_ankle-boot"


def test_an_unknown_view_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown view 'Sentences' for image credit"):
        views.view_figure(_image_raw(), "Sentences", views.ViewOptions())


def test_text_checks() -> None:
    with pytest.raises(ValueError, match="empty"):
        text_limit.check_text(" \t\n")
    assert text_limit.check_text("fine") == ("fine", None)
    text, warning = text_limit.check_text("x" * (text_limit.MAX_TEXT_CHARS + 5))
    assert len(text) == text_limit.MAX_TEXT_CHARS and "20,005 characters" in warning


def test_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session.THREADS_ENV, "2")
    assert session.limit_threads() == 2 == torch.get_num_threads()
    monkeypatch.delenv(session.THREADS_ENV)
    assert session.limit_threads() == 1 == torch.get_num_threads()


def test_pixel_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(session.MAX_PIXELS_ENV, "1234")
    assert session.max_pixels() == 1234
    monkeypatch.setenv(session.MAX_PIXELS_ENV, "lots")
    assert session.max_pixels() > 1_000_000


def test_samples_open_as_images() -> None:
    for name in samples.image_samples():
        image = open_image(samples.sample_bytes(name), name=name)
        assert min(image.size) >= 28
    assert len(samples.text_samples()) >= 3
    with pytest.raises(ValueError, match="unknown sample"):
        samples.sample_bytes("nothing")
    first = sorted(samples.SAMPLES_DIR.glob("*.png"))[0]
    assert samples.sample_bytes(samples.image_samples()[0]) == first.read_bytes()


def test_cli_app_runs_streamlit_and_forwards_its_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    launched = []

    class FakeProcess:
        def __init__(self, command: list[str]) -> None:
            launched.append(command)

        def wait(self, timeout: float | None = None) -> int:
            return 3

    monkeypatch.setattr(commands_app.subprocess, "Popen", FakeProcess)
    assert main(["app", "--host", "0.0.0.0", "--port", "8765"]) == 3
    command = launched[0]
    assert command[1:3] == ["-m", "creditlens.app.serve"]
    expected = {
        "--server.address": "0.0.0.0",
        "--server.port": "8765",
        "--server.headless": "true",
        "--server.fileWatcherType": "none",
        "--client.toolbarMode": "viewer",  # no Deploy button
        "--browser.gatherUsageStats": "false",
    }
    for flag, value in expected.items():
        assert command[command.index(flag) + 1] == value
    assert main(["app", "--port", "70000"]) == 2


def test_cli_app_passes_sigterm_to_streamlit(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = []

    class FakeProcess:
        def __init__(self, command: list[str]) -> None:
            pass

        def send_signal(self, signum: int) -> None:
            sent.append(signum)

        def wait(self, timeout: float | None = None) -> int:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill <pid of creditlens app>` would
            return -signal.SIGTERM

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(commands_app.subprocess, "Popen", FakeProcess)
    assert main(["app"]) == -signal.SIGTERM
    assert sent == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_the_page_shows_the_models_most_faithful_method_and_says_so():
    at = _app()
    box = at.selectbox(key=f"method-{VISION}")
    assert box.value == "contribution_lrp"  # what measured most faithful on this model
    captions = " ".join(c.value for c in at.caption)
    assert "method: contribution_lrp" in captions and "deletion AUC 0.252" in captions
    box.select("paper").run()
    _assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "method: paper, the paper's credit of phi" in captions
    assert "this model's default is contribution_lrp" in captions


def _figure_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if "**white** is zero" in c.value or "**Brighter**" in c.value]


def test_each_figure_says_how_to_read_it_and_its_numbers_add_up() -> None:
    at = _app()
    (caption,) = _figure_captions(at)
    assert "**Red** raised the score of *Ankle boot*, **blue** lowered it, **white** is zero" in caption
    assert "Each patch's credit, summed over depths, is spread smoothly over its part of the image" in caption
    total, bias, score = (
        float(x)
        for x in re.search(
            r"credit \((-?[\d.]+)\) plus the bias \((-?[\d.]+)\) is .*?, (-?[\d.]+)\.", caption
        ).groups()
    )
    first = open_image(samples.sample_bytes(samples.image_samples()[0]), name="boot")
    with torch.no_grad():
        logit = float(session.model(VISION).classifier([first])[0, 9])  # class 9: Ankle boot
    assert score == pytest.approx(logit, abs=0.006) and total + bias == pytest.approx(score, abs=0.011)
    at.radio(key="mode").set_value("magnitude").run()
    (caption,) = _figure_captions(at)
    assert "**Brighter** is more credit whatever its sign" in caption and "log scale" in caption
    at.selectbox(key=f"method-{VISION}").select("paper").run()
    (caption,) = _figure_captions(at)
    assert "the paper's credit of phi" in caption and "bias" not in caption


def _limit(caption: str) -> float:
    return float(re.search(r"±([\d.e+-]+) at its ends", caption).group(1))


def test_compared_classes_share_one_colour_scale() -> None:
    at = _app()
    at.file_uploader(key="upload").upload("noise.png", _png(_noise(3)), "image/png").run()
    alone = []
    for index in (0, 1):
        _class_box(at).select_index(index).run()
        alone.append(_limit(_figure_captions(at)[0]))
    assert alone[0] != alone[1]  # each class alone has its own scale
    _class_box(at).select_index(0).run()
    _class_box(at, "compare-").select_index(2).run()  # the second most probable class
    _assert_clean(at)
    limits = [_limit(c) for c in _figure_captions(at)]
    assert len(limits) == 2 and limits[0] == limits[1] == max(alone)


def test_the_page_shows_what_the_model_saw_beside_the_users_image() -> None:
    first = samples.image_samples()[0]
    data = samples.sample_bytes(first)
    explained = session.explain_image(VISION, data, first, session.max_pixels(), "contribution")
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    assert explained.model_input.shape == (28, 28)
    assert np.abs(explained.model_input.astype(int) - pixels).max() <= 1  # the sample is already 28 x 28 grey
    cat = samples.sample_bytes("Photo: a cat (out of domain)")
    seen = session.explain_image(VISION, cat, "cat.png", session.max_pixels(), "contribution").model_input
    assert seen.shape == (28, 28) and seen.dtype == np.uint8
    at = _app()
    captions = [image.proto.imgs[0].caption for image in at.image]
    assert "your image" in captions and "what the model saw: 28 x 28 grey" in captions


def test_a_second_session_reuses_the_first_sessions_explanation_and_figure(
    forward_passes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    original = views.view_figure

    def counted(raw, view, options):
        drawn.append(view)
        return original(raw, view, options)

    monkeypatch.setattr(views, "view_figure", counted)
    noise = _png(_noise(4))
    first = _app()
    first.file_uploader(key="upload").upload("noise.png", noise, "image/png").run()
    _assert_clean(first)
    passes, figures = len(forward_passes), len(drawn)
    second = _app()  # another browser session on the same server
    second.file_uploader(key="upload").upload("noise.png", noise, "image/png").run()
    _assert_clean(second)
    assert len(forward_passes) == passes and len(drawn) == figures  # nothing explained or drawn again
    assert _figures(second)[0].proto.imgs[0].url == _figures(first)[0].proto.imgs[0].url


def _vision_domain() -> dict:
    return next(info for info in session.zoo() if info.name == VISION).domain


def test_an_input_far_from_fashion_mnist_gets_a_note_and_the_samples_none() -> None:
    domain = _vision_domain()
    for name in samples.image_samples():
        data = samples.sample_bytes(name)
        explained = session.explain_image(VISION, data, name, session.max_pixels(), "contribution")
        note = domain_note(domain, explained.image, explained.model_input)
        if name.startswith("Photo"):
            assert note and "trained on Fashion-MNIST" in note and "mean little here" in note, name
        else:
            assert note is None, name
    at = _app()
    at.selectbox(key="sample").select("Photo: a cat (out of domain)").run()
    _assert_clean(at)
    (warning,) = at.warning
    assert "it is a colour image and its background is not dark" in warning.value
    assert len(_figures(at)) == 1  # the explanation is still shown


def test_the_domain_check_passes_almost_every_fashion_mnist_training_image() -> None:
    images, _ = load_fashion_mnist("train")
    domain = _vision_domain()
    flagged = sum(domain_note(domain, image, image) is not None for image in images.numpy())
    assert flagged / len(images) <= 0.0011  # the border limit is the training set's 99.9th percentile


def test_compared_classes_of_a_text_share_one_colour_scale_in_the_words_view() -> None:
    at = _app()
    at.selectbox(key="model").select(TEXT).run()
    _class_box(at, "compare-").select_index(2).run()
    _assert_clean(at)
    limits = [_limit(c) for c in _figure_captions(at)]
    assert len(limits) == 2 and limits[0] == limits[1]
    legends = [re.findall(r">(-?[\d.]+)</span><span>credit", h.proto.body) for h in at.get("html")]
    assert len(legends) == 2 and legends[0] == legends[1]  # the two HTML legends end at the same value


def test_a_warmed_server_explains_nothing_on_its_first_visit(forward_passes: list[int]) -> None:
    import streamlit as st

    st.cache_resource.clear()  # a fresh server
    session.warm()  # what `creditlens app` does before it answers
    warmed = len(forward_passes)
    assert warmed == 2  # each bundled model's first sample
    at = _app()
    assert len(_figures(at)) == 1 and len(forward_passes) == warmed  # the first visit found it ready
    at.selectbox(key="model").select(TEXT).run()
    _assert_clean(at)
    assert len(forward_passes) == warmed
