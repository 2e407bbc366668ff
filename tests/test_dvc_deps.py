"""dvc.yaml lists, for every stage, each posenet module its script can import (its import closure), so editing
any of them makes `dvc status` report the stage as changed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "posenet"


def _module_file(name: str) -> Path | None:
    """The file of module ``posenet.a.b`` (package ``__init__.py`` or ``.py``), None when it is not a module."""
    path = REPO.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _imported_modules(path: Path) -> set[str]:
    """posenet modules named by the imports of ``path``, at any depth (lazy imports in functions included)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "posenet" or n.startswith("posenet.")}


def import_closure(script: Path) -> set[Path]:
    """Every posenet source file reachable from ``script`` through imports (parents' ``__init__`` included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _imported_modules(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
                file = _module_file(".".join(parts[:i]))
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_cover_the_import_closure_of_its_script(stage):
    spec = _stages()[stage]
    script = REPO / spec["cmd"].split()[1]
    assert script.is_file(), f"{stage}: cmd runs {script}, which does not exist"
    deps = [REPO / d for d in spec["deps"] if "${" not in d]
    assert script in deps, f"{stage}: its own script {script.relative_to(REPO)} is not a dep"
    missing = sorted(str(f.relative_to(REPO)) for f in import_closure(script)
                     if not any(f == d or d in f.parents for d in deps))
    assert not missing, f"{stage}: dvc.yaml deps lack {missing}"


def test_the_closure_follows_lazy_and_package_imports():
    closure = {f.relative_to(REPO).as_posix() for f in import_closure(REPO / "stages" / "convert.py")}
    assert {"posenet/__init__.py", "posenet/models/checkpoint.py", "posenet/weights/convert.py",
            "posenet/errors.py"} <= closure
    assert "posenet/data/dataset.py" not in closure
