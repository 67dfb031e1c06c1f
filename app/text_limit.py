"""The longest text the app and the command line explain: longer texts are cut, with a warning.

A text of tens of thousands of characters makes figures hundreds of thousands of pixels tall and an encoder
pass over dozens of windows; the first `MAX_TEXT_CHARS` characters are what a person reads in one figure.
"""

from __future__ import annotations

MAX_TEXT_CHARS = 20_000


def check_text(text: str) -> tuple[str, str | None]:
    """The text to explain and a warning, if any: the first `MAX_TEXT_CHARS` characters of a longer text.

    Raises:
        ValueError: an empty (or all-whitespace) text.
    """
    if not text.strip():
        raise ValueError("The text is empty: type or paste a review, or pick a sample.")
    if len(text) <= MAX_TEXT_CHARS:
        return text, None
    warning = f"The text has {len(text):,} characters; only the first {MAX_TEXT_CHARS:,} are explained."
    return text[:MAX_TEXT_CHARS], warning
