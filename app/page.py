"""The app's page below its title: pick a zoo model and an input, see the prediction and the credit of any
class, with what the picture means beside it.

The credit is each patch's or token's exact contribution to the class score through the model's routing
head (phi held), or the paper's own credit of phi (Heinsen 2022, Appendix A), as picked. The page is thin:
`session` loads models and explains each input once (all classes), `views` draws with
`creditlens.viz`, `downloads` encodes the files; bad input becomes a message on the page, never a traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from creditlens.app import downloads, reading, samples, session, text_limit, views
from creditlens.app.domain import domain_note
from creditlens.attribution import Explanation
from creditlens.attribution.explain_methods import METHODS, method_line
from creditlens.attribution.zoo import ModelInfo
from creditlens.viz import COLUMN_WIDTH, MODES, RawCredit, format_probability, raw_credit

DEFAULT_MODEL = "fashion-mnist-vit"
TOP_K = 5
MODE_NAMES = {"signed": "signed", "magnitude": "magnitude (log)"}
METHOD_NAMES = {
    "paper": "paper: the paper's credit of phi",
    "contribution": "contribution: exact, at the head's inputs",
    "contribution_rollout": "contribution_rollout: carried by attention rollout",
    "contribution_lrp": "contribution_lrp: carried by one backward pass",
}


def main() -> None:
    """Draw the page below its title (see `streamlit_app`)."""
    session.limit_threads()
    try:
        infos = session.zoo()
    except ValueError as err:  # a model folder with a broken model.json
        st.error(f"The model zoo could not be read: {err}")
        return
    info = _pick_model(infos)
    if info is None:
        return
    shown = _image_input(info) if info.task == "image" else _text_input(info)
    if shown is not None:
        _show(info, shown)


def _pick_model(infos: list[ModelInfo]) -> ModelInfo | None:
    """The sidebar's model picker; a missing model shows what to download and where, and returns None."""
    by_name = {info.name: info for info in infos}
    names = list(by_name)
    ready = [name for name in names if by_name[name].status == "ready"]
    default = DEFAULT_MODEL if DEFAULT_MODEL in ready else (ready or names)[0]
    with st.sidebar:
        st.header("Model")
        name = st.selectbox(
            "Zoo model",
            names,
            index=names.index(default),
            key="model",
            format_func=lambda n: n if by_name[n].status == "ready" else f"{n} (files missing)",
        )
        info = by_name[name]
        st.caption(f"{info.task} classifier, {len(info.labels)} classes, {info.source}: {info.detail}")
        st.selectbox(
            "Explanation method",
            list(METHODS),
            index=list(METHODS).index(info.method),
            key=f"method-{info.name}",
            format_func=lambda m: METHOD_NAMES.get(m, m) + (" (default)" if m == info.method else ""),
        )
    if info.status != "ready":
        st.warning(
            f"The files of **{info.name}** are missing: {info.detail}. Then reload the page; "
            f"meanwhile the bundled models work."
        )
        return None
    try:
        session.model(info.name)
    except Exception as err:  # a broken or partial download must not take the page down
        st.error(f"{info.name} could not be loaded: {err}")
        return None
    return info


@dataclass(frozen=True)
class Shown:
    """An input on the page and its explanation.

    Attributes:
        explanation: every class's credit.
        input_id: names the input in widget and figure keys (see `_input_id`).
        seen: images: the input as the model received it, which overlays are drawn on.
        original: images: the user's image (its part the model sees), shown beside `seen`.
    """

    explanation: Explanation
    input_id: str
    seen: np.ndarray | None = None
    original: np.ndarray | None = None


def _image_input(info: ModelInfo) -> Shown | None:
    """The sidebar's image input (an upload, else a sample) and its explanation."""
    with st.sidebar:
        st.header("Input")
        upload = st.file_uploader("Upload an image", type=["png", "jpg", "jpeg", "webp"], key="upload")
        sample = st.selectbox(
            "... or pick a sample", samples.image_samples(), key="sample", disabled=upload is not None
        )
    if upload is not None:
        data, filename = upload.getvalue(), upload.name
    else:
        data, filename = samples.sample_bytes(sample), sample
    try:
        explained = session.explain_image(info.name, data, filename, session.max_pixels(), _method(info))
    except ValueError as err:  # ImageError: not an image, truncated, corrupt or too large
        st.error(str(err))
        return None
    except Exception as err:
        st.error(f"{filename} could not be explained ({type(err).__name__}: {err}).")
        return None
    st.caption(f"Input: **{filename}**")
    note = domain_note(info.domain, explained.image, explained.model_input)
    if note:
        st.warning(note)
    return Shown(explained.explanation, _input_id(info.name, data), explained.model_input, explained.image)


def _text_input(info: ModelInfo) -> Shown | None:
    """The text area (a sample review to start with) and its explanation."""
    reviews = samples.text_samples()
    with st.sidebar:
        st.header("Input")
        st.selectbox("Sample review", reviews, key="review", on_change=_use_review)
    st.session_state.setdefault("text", reviews[0])
    text = st.text_area("Text to explain (Ctrl+Enter to apply)", key="text", height=110)
    try:
        text, warning = text_limit.check_text(text)
        if warning:
            st.warning(warning)
        explanation = session.explain_text(info.name, text, _method(info))
    except ValueError as err:
        st.error(str(err))
        return None
    except Exception as err:
        st.error(f"The text could not be explained ({type(err).__name__}: {err}).")
        return None
    return Shown(explanation, _input_id(info.name, text.encode("utf-8")))


def _method(info: ModelInfo) -> str:
    """The method picked for this model (its most faithful as measured until the user picks another)."""
    return st.session_state.get(f"method-{info.name}", info.method)


def _use_review() -> None:
    st.session_state["text"] = st.session_state["review"]


def _input_id(model: str, data: bytes) -> str:
    """Names a model's input in widget and figure keys, so a new input starts at its own top class."""
    return hashlib.sha1(model.encode("utf-8") + b"\0" + data).hexdigest()[:16]


def _show(info: ModelInfo, shown: Shown) -> None:
    """Prediction, class pickers, view controls, the figure(s) with how to read them, and their downloads."""
    explanation, input_id = shown.explanation, shown.input_id
    labels = explanation.labels
    probs = explanation.probs[0].tolist()
    order = explanation.top_k(len(labels)).indices[0].tolist()
    kind = "image" if shown.seen is not None else "text"
    left, right = st.columns([1, 3], gap="large")
    with left:
        if shown.seen is not None:
            _what_the_model_saw(shown.original, shown.seen)
        st.subheader("Prediction")
        rows = "\n".join(f"| {labels[i]} | {format_probability(probs[i])} |" for i in order[:TOP_K])
        st.markdown("| class | probability |\n|---|---:|\n" + rows)
        name = functools.partial(_class_name, labels, probs)
        cls = st.selectbox("Class to explain", order, format_func=name, key=f"class-{input_id}")
        other = st.selectbox(
            "Compare with",
            [None, *order],
            format_func=lambda i: "(none)" if i is None else name(i),
            key=f"compare-{input_id}",
        )
        view = st.radio("View", views.views(kind), key=f"view-{kind}")
        mode = st.radio("Colour", MODES, format_func=MODE_NAMES.get, key="mode", horizontal=True)
        alpha, depth, show_image = 0.55, 0, False
        if view == "Per-depth grid":
            show_image = st.checkbox("Image underneath", value=True, key="grid-image")
        if view == "Overlay" or show_image:
            alpha = st.slider("Credit opacity", 0.0, 1.0, 0.55, 0.05, key="alpha")
        if view == "One depth":
            n_depth = explanation.credit.shape[2]
            depth = st.slider(
                "Depth (0 = embedding output)", 0, n_depth - 1, n_depth - 1, key=f"depth-{info.name}"
            )
    with right:
        st.caption(method_line(explanation.method, info.method, info.faithfulness))
        classes = [cls] if other is None else [cls, other]
        raws = [raw_credit(explanation, 0, index, model=info.name, image=shown.seen) for index in classes]
        options = views.ViewOptions(mode=mode, alpha=alpha, depth=depth, show_image=show_image)
        # Classes compared side by side share one colour scale, each drawn at a column's width.
        limit = views.shared_limit(raws, view, options)
        width = COLUMN_WIDTH if len(classes) > 1 else None
        options = dataclasses.replace(options, limit=limit, width=width)
        for column, index, raw in zip(st.columns(len(classes)), classes, raws):
            with column:
                key = f"{input_id}-{explanation.method}-{index}-{view}-{options}"
                _figure(raw, view, options, key=key)
                bias = (
                    None
                    if explanation.bias is None
                    else float(explanation.bias[0, _column(explanation, index)])
                )
                st.caption(reading.reading(raw, view, mode, limit, bias))
                share = float(explanation.hidden_share(index)[0])
                if share > 0.005:
                    st.caption(
                        f"{share:.1%} of this class's credit is on special or prefix tokens (not shown)."
                    )


def _what_the_model_saw(original: np.ndarray, seen: np.ndarray) -> None:
    """The user's image beside the input as the model received it (for the bundled Fashion-MNIST model,
    28 x 28 grey), which the credit maps are drawn on."""
    mine, model = st.columns(2)
    # PNG, not Streamlit's default JPEG for arrays, so the model's few pixels show without artefacts.
    mine.image(original, caption="your image", output_format="PNG")
    height, width = seen.shape[:2]
    kind = "grey" if seen.ndim == 2 else "colour"
    # Enlarged without smoothing, so each of the model's pixels stays a visible square.
    scale = max(1, 160 // max(height, width))
    enlarged = np.repeat(np.repeat(seen, scale, axis=0), scale, axis=1)
    model.image(enlarged, caption=f"what the model saw: {width} x {height} {kind}", output_format="PNG")


def _column(explanation: Explanation, index: int) -> int:
    """The column of class `index` in the explanation's credit and bias."""
    return explanation.classes.tolist().index(index)


def _class_name(labels: tuple[str, ...], probs: list[float], index: int) -> str:
    return f"{labels[index]} ({format_probability(probs[index])})"


def _figure(raw: RawCredit, view: str, options: views.ViewOptions, key: str) -> None:
    """One view of one class, and the buttons that download it in every format with the raw credit."""
    build = functools.partial(views.view_figure, raw, view, options)
    stem = downloads.file_stem(raw, view)
    if view == "Tokens":
        st.html(downloads.html_file(raw, options.mode, vmax=options.limit).decode("utf-8"))
        png = functools.partial(downloads.figure_file, build, "png")
    else:
        png = session.figure_png(key, build)
        st.image(png)
    files = {"png": png}
    for fmt in ("svg", "pdf"):
        files[fmt] = functools.partial(downloads.figure_file, build, fmt)
    if raw.kind == "text":
        files["html"] = functools.partial(downloads.html_file, raw, options.mode, vmax=options.limit)
    raw_stem = downloads.file_stem(raw)
    for fmt in ("npz", "json"):
        files[fmt] = functools.partial(_raw_file, raw, raw_stem, fmt)
    buttons = st.container(horizontal=True)
    for fmt, data in files.items():
        name = f"{raw_stem if fmt in ('npz', 'json') else stem}.{fmt}"
        buttons.download_button(
            fmt.upper(),
            data,
            name,
            downloads.MIME_TYPES[fmt],
            key=f"dl-{key}-{fmt}",
            on_click="ignore",
            help=f"Download {name}",
        )


def _raw_file(raw: RawCredit, stem: str, fmt: str) -> bytes:
    return downloads.raw_files(raw, stem)[fmt]
