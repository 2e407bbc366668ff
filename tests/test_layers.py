"""Layering: the package never imports the stages or the app (the layer contracts inside the package are
import-linter's, in pyproject.toml, run by .ci/run)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_package_never_imports_stages_or_the_app():
    offenders = {str(p.relative_to(REPO)): sorted(n for n in _imports(p) if n.split(".")[0] in ("stages", "app"))
                 for p in (REPO / "posenet").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_import_linter_contracts_are_kept():
    """`lint-imports` with the contracts of pyproject.toml (models / decode / core modules vs params)."""
    import subprocess
    import sys

    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _from_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from posenet... import name`` in ``path``, at any depth."""
    return [(node.module, alias.name) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "posenet"
            for alias in node.names]


def test_stages_and_the_app_use_only_the_public_api():
    """Stages and app.py import only names a module lists in ``__all__`` (or whole modules)."""
    import importlib

    users = [*sorted((REPO / "stages").glob("*.py")), REPO / "app.py"]
    wrong = []
    for path in users:
        for module, name in _from_imports(path):
            parts = module.split(".")
            public = getattr(importlib.import_module(module), "__all__", ())
            is_module = (REPO.joinpath(*parts) / f"{name}.py").is_file()  # `from posenet.viz import drawing`
            if not (name in public or is_module):
                wrong.append(f"{path.name}: from {module} import {name}")
    assert not wrong, "\n".join(wrong)


def test_subpackages_import_nothing_on_their_own():
    """A subpackage's ``__init__`` is a docstring: importing one module never loads its siblings (so a DVC stage
    depends only on the modules it uses, tools/dvc_deps.py)."""
    heavy = {str(p.relative_to(REPO)): sorted(_imports(p)) for p in (REPO / "posenet").glob("*/__init__.py")
             if p.parent.name != "commands"}  # the console command group
    assert not {k: v for k, v in heavy.items() if v}
