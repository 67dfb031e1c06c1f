"""Every Python code block in the README runs, and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _expected_prints(code: str) -> list[str]:
    """Comment lines right after a print(...) line that hold its output (`# torch.Size(...)` style)."""
    lines = code.splitlines()
    out = []
    for line, after in zip(lines, lines[1:]):
        if line.startswith("print(") and after.startswith("# ") and not after.startswith("# head."):
            out.append(after[2:])
    return out


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int) -> None:
    code = BLOCKS[index]
    torch.manual_seed(0)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, f"README block {index}", "exec"), {})
    printed = stdout.getvalue()
    for expected in _expected_prints(code):
        assert expected in printed
    inline = re.findall(r"print\((.*?)\)\s+# (torch\.Size\(\[.*?\]\))", code)
    for _, expected in inline:
        assert expected in printed
