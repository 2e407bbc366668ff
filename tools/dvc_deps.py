"""Keep each dvc.yaml stage's posenet deps equal to the import closure of its script.

    python tools/dvc_deps.py            # rewrite the posenet/ deps of every stage in dvc.yaml (comments kept)
    python tools/dvc_deps.py --check    # exit 1 naming the stages whose deps are stale

A stage depends on every posenet module its script can import, lazy imports inside functions included, so
editing any of them makes `dvc status` report the stage. A subpackage (``posenet/data``, ...) is listed as a
folder when the closure uses all of its files; other modules are listed one by one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]


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


def closure_deps(script: Path) -> list[str]:
    """The dvc.yaml deps covering ``script``'s closure: a subpackage's folder when the closure holds every module
    of it, else its modules one by one (so that editing a module a stage does not import leaves it unchanged)."""
    closure = import_closure(script)
    deps = set()
    for file in closure:
        parts = file.relative_to(REPO).parts
        folder = file.parent
        whole = len(parts) > 2 and all(f in closure for f in folder.glob("*.py"))
        deps.add(folder.relative_to(REPO).as_posix() if whole else "/".join(parts))
    return sorted(deps)


def missing_deps(stage: dict) -> list[str]:
    """Files of the stage script's closure that no dep of ``stage`` (a dvc.yaml stage mapping) covers."""
    script = REPO / stage["cmd"].split()[1]
    deps = [REPO / d for d in stage["deps"] if "${" not in d]
    return sorted(str(f.relative_to(REPO)) for f in import_closure(script)
                  if not any(f == d or d in f.parents for d in deps))


@click.command()
@click.option("--check", is_flag=True, help="Only report stale stages (exit 1), change nothing.")
def main(check: bool) -> None:
    """Rewrite (or check) the posenet/ deps of every stage in dvc.yaml."""
    from ruamel.yaml import YAML  # DVC's own YAML library: keeps comments and layout

    yaml = YAML()
    yaml.width = 4096  # never fold a long desc
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = REPO / "dvc.yaml"
    doc = yaml.load(path)
    stale = []
    for name, stage in doc["stages"].items():
        script = REPO / stage["cmd"].split()[1]
        others = [d for d in stage["deps"] if not str(d).startswith("posenet")]
        wanted = others[:1] + closure_deps(script) + others[1:]  # the stage's own script first
        if list(stage["deps"]) != wanted:
            stale.append(name)
            stage["deps"] = wanted
    if check:
        if stale:
            sys.exit(f"stale posenet deps in dvc.yaml: {', '.join(stale)} (run python tools/dvc_deps.py)")
        return
    yaml.dump(doc, path)
    click.echo(f"updated: {', '.join(stale) or 'nothing'}")


if __name__ == "__main__":
    main()
