"""Dependencies point one way: routing <- attribution <- viz <- app, and inside attribution the folders that
serve it (backbones, zoo, data, training, evaluation) are not imported back by the attribution itself.

Every import statement counts, at any depth (function-level imports included); relative imports are resolved
to absolute names first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FOLDERS = ("routing", "attribution", "viz", "app")
# What each folder may import from creditlens (itself included).
ALLOWED = {
    "routing": {"routing"},
    "attribution": {"routing", "attribution"},
    "viz": {"routing", "attribution", "viz"},
    "app": {"routing", "attribution", "viz", "app"},
}
# Inside attribution: a part, and the parts it may import. "" is the attribution itself (the top-level modules:
# recipes, recording, contributions, classifiers, explanations, the Captum adapter); "public" is its
# `__init__.py`, which re-exports the backbones and the zoo.
ATTRIBUTION = {
    "": {""},
    "public": {"", "backbones", "zoo"},
    "backbones": {"", "backbones"},
    "zoo": {"", "backbones", "zoo"},
    "data": {"", "data"},
    "training": {"", "backbones", "data", "training"},
    "evaluation": {"", "backbones", "evaluation"},
}


def _module_name(path: Path) -> str:
    """`creditlens.<folder>....` of a source file (a package's name for its `__init__.py`)."""
    parts = ["creditlens", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module (or module attribute) imported anywhere in a file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from creditlens import attribution` names a module in its alias, not in `module`.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _layer(name: str) -> str | None:
    """The creditlens folder a name belongs to, or None outside creditlens."""
    parts = name.split(".")
    return parts[1] if parts[0] == "creditlens" and len(parts) > 1 else None


def _attribution_part(name: str) -> str:
    """The subpackage of attribution a name is in ("" for its top-level modules and names)."""
    below = name.split(".")[2:]
    return below[0] if below and (ROOT / "attribution" / below[0]).is_dir() else ""


def test_imports_are_resolved() -> None:
    """The checks below see real edges: relative, absolute and function-level imports alike."""
    classifier = imports_of(ROOT / "attribution" / "classifier.py")
    assert "creditlens.routing.RoutingHead" in classifier  # absolute
    assert "creditlens.attribution.recipes.sequential" in classifier  # relative, `from .recipes import`
    assert "creditlens.attribution.explain_methods.compute_credit" in classifier  # inside a method
    zoo = imports_of(ROOT / "attribution" / "zoo" / "models.py")
    assert "creditlens.attribution.backbones.saved_vit.load_vit_backbone" in zoo  # `from ..backbones...`
    assert len(sources()) > 50


@pytest.mark.parametrize("folder", FOLDERS)
def test_folders_import_only_the_layers_below(folder: str) -> None:
    wrong = []
    for path in (ROOT / folder).rglob("*.py"):
        for name in imports_of(path):
            layer = _layer(name)
            if layer is not None and layer not in ALLOWED[folder]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_attribution_folders_import_only_what_they_serve_on() -> None:
    wrong = []
    for path in (ROOT / "attribution").rglob("*.py"):
        part = (
            "public"
            if path == ROOT / "attribution" / "__init__.py"
            else _attribution_part(_module_name(path))
        )
        for name in imports_of(path):
            if _layer(name) == "attribution" and _attribution_part(name) not in ATTRIBUTION[part]:
                wrong.append(f"{path.relative_to(ROOT)} ({part or 'top level'}) imports {name}")
    assert wrong == []
