"""Text figures and HTML show every token in order, coloured by credit, the top one in the extreme colour."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

from creditlens.viz import credit_cmap, sentence_figure, token_figure, token_html

from _viz_helpers import assert_color, render

pytestmark = pytest.mark.filterwarnings("error")

TOKENS = ["[CLS]", "A", "fine", "<b>", "film", "&", "not", "$5", "bad", "!", "[SEP]"]
SPECIAL = [True] + [False] * 9 + [True]
GAPS = [True, True, True, True, False, True, True, True, True, False, True]
CREDIT = np.array([5.0, 0.1, 0.8, -0.2, 1.6, 0.0, -0.9, 0.3, -0.4, 0.05, -3.0])
# The words shown: pieces with no gap before them joined, their credit summed; the top word is "<b>film" (1.4).
WORDS = ["A", "fine", "<b>film", "&", "not", "$5", "bad!"]


def _tokens_drawn(figure) -> list[str]:
    texts = sorted(
        (t for t in figure.texts if (t.get_gid() or "").startswith("token-")),
        key=lambda t: int(t.get_gid().split("-")[1]),
    )
    return [t.get_text() for t in texts]


def test_token_figure_shows_tokens_in_order_with_the_top_token_in_the_extreme_colour() -> None:
    figure = token_figure(TOKENS, CREDIT, gaps=GAPS, special=SPECIAL, title="sst2 — positive (p = 0.91)")
    assert _tokens_drawn(figure) == WORDS  # specials hidden by default; "$5" drawn as is (no mathtext)
    boxes = [a for a in figure.artists if isinstance(a, Rectangle)]
    top = boxes[WORDS.index("<b>film")]
    cmap = credit_cmap("signed")
    assert_color(top.get_facecolor(), cmap(1.0), tol=1e-9)  # the scale spans ordinary tokens: [CLS] is 5.0
    pixels = render(figure)
    extent = top.get_window_extent()
    x, y = extent.x0 + 1.5, (extent.y0 + extent.y1) / 2
    assert_color(pixels[int(pixels.shape[0] - y), int(x)] / 255.0, cmap(1.0))
    assert "sst2 — positive (p = 0.91)" in [t.get_text() for t in figure.texts]


def test_token_figure_marks_special_tokens_and_wraps_without_overlap() -> None:
    tokens = TOKENS * 6
    figure = token_figure(tokens, np.tile(CREDIT, 6), special=SPECIAL * 6, show_special=True, width=2.5)
    assert _tokens_drawn(figure) == tokens
    boxes = [a for a in figure.artists if isinstance(a, Rectangle)]
    assert [b.get_linestyle() for b in boxes[:2]] == ["--", "--"] and boxes[0].get_edgecolor()[3] > 0
    assert boxes[1].get_edgecolor()[3] == 0  # ordinary tokens have no outline
    render(figure)
    extents = [b.get_window_extent() for b in boxes]
    width = figure.get_figwidth() * figure.dpi
    assert all(0 <= e.x0 and e.x1 <= width for e in extents)
    lines = sorted({round(e.y0, 3) for e in extents})
    assert len(lines) > 2  # wrapped
    for a, b in zip(extents, extents[1:]):
        if round(a.y0, 3) == round(b.y0, 3):
            assert a.x1 <= b.x0 + 1e-6  # the next token on a line starts after this one ends
        else:
            assert b.y1 <= a.y0 + 1e-6  # or it starts the line below


def test_sentence_bars_in_order_coloured_by_credit() -> None:
    sentences = ["A fine film.", "Not bad!", "A " + "very " * 20 + "long sentence."]
    credit = np.array([0.4, -1.2, 0.1])
    figure = sentence_figure(sentences, credit, title="sst2 — positive (p = 0.91)")
    ax = figure.axes[0]
    bars = list(ax.patches)
    assert [b.get_width() for b in bars] == pytest.approx(list(credit))
    tops = [ax.transData.transform((0, b.get_y()))[1] for b in bars]
    assert tops[0] > tops[1] > tops[2]  # first sentence on top
    cmap = credit_cmap("signed")
    assert_color(bars[1].get_facecolor(), cmap(0.0), tol=1e-9)  # most negative: the other extreme
    assert ax.get_xlim()[0] == pytest.approx(-ax.get_xlim()[1])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "1. A fine film." and labels[2].endswith("…") and len(labels[2]) <= 40
    log = sentence_figure(sentences, credit, mode="magnitude")
    assert log.axes[0].get_xscale() == "log"
    render(log)


class _Spans(HTMLParser):
    """Collects the text and style of each token span."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[tuple[str, str]] = []
        self._style: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "span" and attrs.get("class") == "token":
            self._style = attrs["style"]
            self.tokens.append(("", self._style))

    def handle_data(self, data) -> None:
        if self._style is not None:
            self.tokens[-1] = (self.tokens[-1][0] + data, self._style)

    def handle_endtag(self, tag) -> None:
        self._style = None


def _spans(page: str) -> list[tuple[str, str]]:
    parser = _Spans()
    parser.feed(page)
    return parser.tokens


def test_html_is_a_complete_document_with_every_token_in_order_escaped() -> None:
    page = token_html(TOKENS, CREDIT, gaps=GAPS, special=SPECIAL, title="sst2 <model> — positive")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for part in ("<html", "<head>", '<meta charset="utf-8">', "<title>", "<body", "</body>"):
        assert part in page
    assert "<b>" not in page and "&lt;b&gt;" in page and "&lt;model&gt;" in page
    spans = _spans(page)
    assert [text for text, _ in spans] == WORDS
    escaped = [html.escape(t) for t in WORDS]
    positions = [page.index(f">{e}</span>") for e in escaped]
    assert positions == sorted(positions)
    top = dict(spans)["<b>film"]
    assert f"background-color: {to_hex(credit_cmap('signed')(1.0))};" in top
    assert "linear-gradient" in page and 'class="legend"' in page
    assert "fine</span> <span" in page  # a space between words, none inside "<b>film"


def test_html_marks_special_tokens_and_uses_the_log_scale_for_magnitude() -> None:
    spans = _spans(token_html(TOKENS, CREDIT, special=SPECIAL, show_special=True))
    assert [t for t, _ in spans] == TOKENS  # no gaps given: every token is a word
    assert "dashed" in spans[0][1] and "dashed" not in spans[1][1]
    magnitude = _spans(token_html(TOKENS, CREDIT, special=SPECIAL, mode="magnitude"))
    hexes = {t: s.split("background-color: ")[1][:7] for t, s in magnitude}
    assert hexes["film"] == to_hex(credit_cmap("magnitude")(1.0))
    assert hexes["&"] == to_hex(credit_cmap("magnitude")(0.0))  # zero credit sits at the log floor


REVIEW = (
    "The first half sparkles with wit and invention. Sadly, the second half collapses into tired clichés."
)


@pytest.fixture(scope="module")
def review_raw():
    """The bundled text model's credit of a review whose tokenizer splits "sparkles" and "clichés"."""
    from creditlens.attribution.zoo import load_model
    from creditlens.viz import raw_credit

    model = load_model("rotten-tomatoes-minilm")
    return raw_credit(model.classifier.explain([REVIEW]), model="rotten-tomatoes-minilm")


def test_word_pieces_of_a_real_tokenizer_are_drawn_as_the_words_of_the_text(review_raw) -> None:
    tokens = review_raw.token_strings()
    assert "sparkle" in tokens and "iché" in tokens  # the tokenizer does split these words
    per_token = review_raw.credit.sum(axis=-1)  # [p]
    figure = token_figure(tokens, per_token, gaps=review_raw.token_gaps(), special=review_raw.special)
    words = _tokens_drawn(figure)
    assert words == REVIEW.split()  # every word as the text writes it, punctuation attached
    page = token_html(tokens, per_token, gaps=review_raw.token_gaps(), special=review_raw.special)
    assert [text for text, _ in _spans(page)] == REVIEW.split()
    # A word's credit is the sum of its pieces: "clichés." is the last four ordinary tokens.
    tip = page.split(">clichés.</span>")[0].rsplit('title="', 1)[1].split('"')[0]
    expected = per_token[~review_raw.special][-4:].sum()
    assert tip.startswith(f"credit {expected:.4g} (cl + iché + s + .)")
