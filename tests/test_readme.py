"""The README and the pages under docs/ hold: every Python code block runs and prints what the page says it
prints, and every relative link (and #anchor) points to something that exists."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


BLOCKS = [(page, index) for page in PAGES for index in range(len(_python_blocks(page)))]


def _expected_prints(code: str) -> list[str]:
    """Comment lines right after a print(...) line that hold its output (`# torch.Size(...)` style)."""
    lines = code.splitlines()
    out = []
    for line, after in zip(lines, lines[1:]):
        if line.startswith("print(") and after.startswith("# ") and not after.startswith("# head."):
            out.append(after[2:])
    return out


def test_readme_has_python_blocks() -> None:
    assert len(_python_blocks(ROOT / "README.md")) >= 2


@pytest.mark.parametrize(
    ("page", "index"), BLOCKS, ids=[f"{page.relative_to(ROOT)}-{index}" for page, index in BLOCKS]
)
def test_block_runs(page: Path, index: int) -> None:
    code = _python_blocks(page)[index]
    torch.manual_seed(0)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, f"{page.relative_to(ROOT)} block {index}", "exec"), {})
    printed = stdout.getvalue()
    for expected in _expected_prints(code):
        assert expected in printed
    inline = re.findall(r"print\((.*?)\)\s+# (torch\.Size\(\[.*?\]\))", code)
    for _, expected in inline:
        assert expected in printed


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation (backticks included) dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), flags=re.M):
        slug, n = _slug(heading), 1
        while slug in anchors:  # a repeated heading gets -1, -2, ...
            slug, n = f"{_slug(heading)}-{n}", n + 1
        anchors.add(slug)
    return anchors


def _links(page: Path) -> list[str]:
    """Targets of the page's Markdown links and images, outside code blocks and inline code."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_relative_links_and_anchors_exist(page: Path) -> None:
    links = _links(page)
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto:: not checked offline
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(link)
    assert not broken, f"{page.name}: broken links {broken}"


def test_link_checker_finds_links() -> None:
    links = _links(ROOT / "README.md")
    assert "docs/app.png" in links and any(link.startswith("#") for link in links)
    assert _slug("Captum and Quantus: `RoutingAttribution`") == "captum-and-quantus-routingattribution"
    assert _slug("The paper's six models") == "the-papers-six-models"
