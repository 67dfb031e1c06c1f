"""The four folders install as subpackages of the `creditlens` namespace with their data files, the build
warns of nothing, and dependencies point one way."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_regular_install_puts_only_creditlens_in_site_packages(tmp_path: Path) -> None:
    target = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--target", str(target), str(ROOT)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True)
    top_level = {p.name for p in target.iterdir() if not p.name.endswith((".dist-info", "__pycache__"))}
    assert top_level == {"creditlens", "bin"}  # bin/ holds the `creditlens` command
    assert (target / "bin" / "creditlens").is_file()
    assert not (target / "creditlens" / "__init__.py").exists(), "creditlens must be a namespace package"
    for sub in ("routing", "attribution", "viz", "app"):
        assert (target / "creditlens" / sub / "__init__.py").exists()
    probe = "import creditlens.routing as r; print(r.__file__)"
    env = {"PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    printed = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    assert printed.strip().startswith(str(target))


@pytest.mark.slow
def test_wheel_builds_without_setuptools_warnings_and_ships_the_models_and_samples(tmp_path: Path) -> None:
    """`pip install .` builds this wheel: its log has no setuptools warning (a deprecated licence table, data
    folders taken for undeclared packages), and the bundled models and the app's samples are inside."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "--no-build-isolation",
           "--wheel-dir", str(tmp_path), str(ROOT)]  # fmt: skip
    built = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    log = built.stdout + built.stderr
    assert built.returncode == 0, log[-3000:]
    # setuptools' warnings are classes named ...Warning (SetuptoolsDeprecationWarning, BuildBackendWarning);
    # distutils' lowercase "warning: byte-compiling is disabled" is about the build machine, not the project.
    warnings = sorted(set(re.findall(r"\b\w+Warning\b: .*", log)))
    assert warnings == []
    (wheel,) = tmp_path.glob("creditlens-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("fashion-mnist-vit", "rotten-tomatoes-minilm"):
        for file in ("model.json", "head.safetensors"):
            assert f"creditlens/attribution/bundled/{model}/{file}" in names
    assert "creditlens/attribution/bundled/fashion-mnist-vit/backbone.safetensors" in names
    samples = {n for n in names if n.startswith("creditlens/app/samples/")}
    assert "creditlens/app/samples/fashion-mnist-0000-ankle-boot.png" in samples
    assert "creditlens/app/samples/reviews.txt" in samples and len(samples) == 11
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "License-Expression: MIT" in metadata.decode()  # the licence as an SPDX expression
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_tests_use_the_installed_package() -> None:
    import creditlens.routing

    # Editable or regular: the module comes through the creditlens namespace, never a top-level `routing`.
    assert creditlens.routing.__name__ == "creditlens.routing"
    assert "routing" not in sys.modules


def test_routing_needs_torch_only() -> None:
    probe = (
        "import sys, creditlens.routing\n"
        "heavy = [m for m in ('timm', 'transformers', 'matplotlib', 'streamlit', 'PIL') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    printed = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert printed.strip() == "[]"


def test_nothing_imports_the_app() -> None:
    for folder in ("routing", "attribution", "viz"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert "creditlens.app" not in text and "from ..app" not in text, path
