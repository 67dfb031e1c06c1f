"""Every example runs at small sizes and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def _run(script: str, *args: str) -> str:
    cmd = [sys.executable, str(EXAMPLES / script), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout


def test_route_sequence() -> None:
    out = _run("route_sequence.py", "--n-inp", "2000", "--d", "32", "--n-out", "4")
    assert "routed 2,000 vectors of size 32 to 4" in out and "phi (2000, 4)" in out
    assert out.count("most credited inputs") == 4


def test_explain_image() -> None:
    out = _run("explain_image.py")
    assert out.startswith("prediction: Ankle boot")
    assert "most credited patches for Ankle boot: (row" in out
    assert len(out.split("credit per depth:")[1].split(",")) == 7


def test_explain_text() -> None:
    out = _run("explain_text.py", "Dull. A waste of a fine cast.")
    assert out.startswith("prediction: negative")
    lines = out.strip().splitlines()
    assert lines[-2].endswith("Dull.") and lines[-1].endswith("A waste of a fine cast.")


def test_export_figures(tmp_path: Path) -> None:
    out = _run("export_figures.py", "--out", str(tmp_path))
    written = {Path(line).suffix for line in out.splitlines() if line.startswith(str(tmp_path))}
    assert written == {".png", ".svg", ".pdf", ".npz", ".json"}
    assert "for Trouser, redrawable from trouser.json" in out  # the sidecar read back names the class
