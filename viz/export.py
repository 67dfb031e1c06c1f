"""Exporting figures (PNG, SVG, PDF), the token heatmap as HTML, and the raw credit (`.npz` + JSON).

One call writes every requested format. Vector formats keep text as text where the format allows it
(TrueType fonts in PDF) and carry no creation date, so re-exporting the same figure gives the same file.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
from matplotlib.figure import Figure

from .colors import Mode
from .figures import standard_figures
from .html import token_html
from .raw import RawCredit, raw_credit
from .raw_io import save_raw

if TYPE_CHECKING:
    from creditlens.attribution import Explanation

FORMATS: tuple[str, ...] = ("png", "svg", "pdf", "html", "npz")
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
_METADATA = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path", "svg.hashsalt": "creditlens"}


def figure_bytes(figure: Figure, fmt: str = "png", *, dpi: int = 200) -> bytes:
    """A figure encoded as PNG, SVG or PDF at its own size (3.5 or 7 in wide for the figures of
    `creditlens.viz`, so they drop into a paper's column or page without scaling; their constrained layout
    keeps the margins small).

    Raises:
        ValueError: for another format (the message lists the valid ones).
    """
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; valid formats: {', '.join(FIGURE_FORMATS)}.")
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return buffer.getvalue()


def raw_html(raw: RawCredit, mode: Mode = "signed", *, vmax: float | None = None) -> str:
    """Texts: the token heatmap of `raw` as a standalone HTML document, titled with model, class and score.

    `vmax` is the `|credit|` at the end of the colour scale (see `colors.shared_limit`); by default the
    largest `|credit|` of a word.
    """
    return token_html(
        raw.token_strings(),
        raw.credit.sum(axis=-1),
        gaps=raw.token_gaps(),
        special=raw.special,
        mode=mode,
        vmax=vmax,
        title=raw.title,
    )


def export(
    source: Figure | Mapping[str, Figure] | RawCredit | Explanation,
    out_dir: str | Path,
    stem: str,
    *,
    raw: RawCredit | None = None,
    formats: Sequence[str] | None = None,
    dpi: int = 200,
    mode: Mode = "signed",
) -> list[Path]:
    """Write figures and raw credit in every requested format to `out_dir`.

    Files are `<stem>.<ext>` for a single figure and `<stem>_<name>.<ext>` for named figures; the token
    heatmap is `<stem>.html`; the raw credit is `<stem>.npz` with its `<stem>.json` sidecar.

    Args:
        source: a figure, figures by name, or a `RawCredit` (its `standard_figures` are drawn and it is the
            raw credit exported), or an `Explanation` (its first sample for its top class, via `raw_credit`;
            call `raw_credit` yourself to choose the sample, class, model name and image).
        out_dir: directory to write to (created if missing).
        stem: the start of every file name.
        raw: the raw credit behind the figures, needed for `"html"` and `"npz"` when `source` is figures.
        formats: any of `"png"`, `"svg"`, `"pdf"`, `"html"` (texts only), `"npz"` (npz + JSON). Default:
            png, svg and pdf, plus html for texts and npz whenever raw credit is known.
        dpi: resolution of PNG files.
        mode: `"signed"` or `"magnitude"`, for figures drawn from a `RawCredit` and the HTML.

    Returns:
        The paths written, in order.

    Raises:
        ValueError: for unknown formats (the message lists the valid ones), or a format that needs raw
            credit (`npz`, `html`) or text credit (`html`) without it.
    """
    if not isinstance(source, (Figure, Mapping, RawCredit)):
        source = raw_credit(source)
    raw = source if isinstance(source, RawCredit) else raw
    formats = _check_formats(formats, raw)
    if isinstance(source, RawCredit):
        drawn = any(fmt in FIGURE_FORMATS for fmt in formats)
        figures = standard_figures(source, mode=mode) if drawn else {}
    else:
        figures = {"": source} if isinstance(source, Figure) else dict(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        if fmt in FIGURE_FORMATS:
            for name, figure in figures.items():
                path = out / (f"{stem}_{name}.{fmt}" if name else f"{stem}.{fmt}")
                path.write_bytes(figure_bytes(figure, fmt, dpi=dpi))
                written.append(path)
        elif fmt == "html":
            path = out / f"{stem}.html"
            path.write_text(raw_html(raw, mode), encoding="utf-8")
            written.append(path)
        else:
            written.extend(save_raw(raw, out, stem))
    return written


def _check_formats(formats: Sequence[str] | None, raw: RawCredit | None) -> list[str]:
    """The formats to write, in order and without repeats, after checking each can be written."""
    if formats is None:
        extra = [] if raw is None else (["html", "npz"] if raw.kind == "text" else ["npz"])
        return [*FIGURE_FORMATS, *extra]
    if isinstance(formats, str):
        formats = [formats]
    chosen = list(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; valid formats: {', '.join(FORMATS)}.")
    if raw is None and {"html", "npz"} & set(chosen):
        raise ValueError(
            "formats 'html' and 'npz' need the raw credit: pass raw=RawCredit(...) or a RawCredit."
        )
    if raw is not None and raw.kind != "text" and "html" in chosen:
        raise ValueError("format 'html' is for text credit only; this raw credit is of an image.")
    return chosen
