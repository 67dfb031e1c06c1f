"""Figures of credit per depth, patch and token, for papers, and their export (Heinsen 2022, Section 4).

Builders take plain arrays or tensors (plus labels) and return matplotlib figures; `RawCredit` holds one
sample's credit for one class with what each position is, so figures can be redrawn from exported files
without the model.
"""

from .colors import (
    MODES,
    Mode,
    add_colorbar,
    colorbar_label,
    credit_cmap,
    credit_colors,
    credit_norm,
    display_values,
    magnitude_norm,
    shared_limit,
    signed_norm,
    text_color,
)
from .depth_map import depth_position_figure
from .export import FORMATS, export, figure_bytes, raw_html
from .figures import standard_figures
from .html import token_html
from .image_figures import depth_grid_figure, depth_map_figure, overlay_figure
from .images import as_rgb, to_grey, to_uint8, upsample
from .raw import RawCredit, raw_credit
from .raw_io import load_raw, save_raw
from .style import COLUMN_WIDTH, PAGE_WIDTH, figure_title, format_probability, paper_style
from .text_figures import sentence_figure, token_figure, word_credit

__all__: list[str] = [
    "COLUMN_WIDTH",
    "FORMATS",
    "MODES",
    "Mode",
    "PAGE_WIDTH",
    "RawCredit",
    "add_colorbar",
    "as_rgb",
    "colorbar_label",
    "credit_cmap",
    "credit_colors",
    "credit_norm",
    "depth_grid_figure",
    "depth_map_figure",
    "depth_position_figure",
    "display_values",
    "export",
    "figure_bytes",
    "figure_title",
    "format_probability",
    "load_raw",
    "magnitude_norm",
    "overlay_figure",
    "paper_style",
    "raw_credit",
    "raw_html",
    "save_raw",
    "sentence_figure",
    "shared_limit",
    "signed_norm",
    "standard_figures",
    "text_color",
    "to_grey",
    "to_uint8",
    "token_figure",
    "token_html",
    "upsample",
    "word_credit",
]
