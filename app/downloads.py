"""The bytes of every file the app offers for download: figures (PNG, SVG, PDF), the token heatmap (HTML)
and the raw credit (`.npz` arrays plus a `.json` sidecar), as written by `creditlens.viz`.

The raw credit (Heinsen 2022, Appendix A: the credit of each position at each depth for one class)
downloads as the same two files `creditlens.viz.save_raw` writes, so `creditlens.viz.load_raw` reads them
back.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from creditlens.viz import Mode, RawCredit, figure_bytes, raw_html, save_raw

FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MIME_TYPES: dict[str, str] = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "npz": "application/octet-stream",
    "json": "application/json",
}
DPI = 200


def file_stem(raw: RawCredit, view: str = "") -> str:
    """A file name without suffix: model, class and view, such as `fashion-mnist-vit_ankle-boot_overlay`."""
    parts = [raw.model or "credit", raw.label, view]
    return "_".join(_slug(part) for part in parts if part)


def figure_file(build: Callable[[], Figure], fmt: str, *, dpi: int = DPI) -> bytes:
    """Draw a figure and encode it as PNG, SVG or PDF.

    Args:
        build: draws the figure (called here, so that a download button can defer the work to a click).
        fmt: `"png"`, `"svg"` or `"pdf"`.
        dpi: resolution of PNG files.
    """
    return figure_bytes(build(), fmt, dpi=dpi)


def html_file(raw: RawCredit, mode: Mode = "signed", *, vmax: float | None = None) -> bytes:
    """Texts: the token heatmap as a standalone UTF-8 HTML document, on the colour scale ending at `vmax`
    (such as the shared limit of compare mode; by default the largest `|credit|` of a word)."""
    return raw_html(raw, mode, vmax=vmax).encode("utf-8")


def raw_files(raw: RawCredit, stem: str) -> dict[str, bytes]:
    """The raw credit as `{"npz": ..., "json": ...}`: the files `save_raw(raw, dir, stem)` writes.

    Save both under `<stem>.npz` and `<stem>.json` (the JSON names the `.npz`) to load them with `load_raw`.
    """
    with tempfile.TemporaryDirectory(prefix="creditlens-") as folder:
        paths = save_raw(raw, folder, stem)
        return {Path(path).suffix[1:]: Path(path).read_bytes() for path in paths}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"
