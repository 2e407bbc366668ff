"""The project's params.yaml as committed: tests read it instead of the workspace file, which `dvc exp run -S ...`
rewrites."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def committed_params_text() -> str:
    """``git show HEAD:params.yaml``; the file itself outside a git checkout."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "show", "HEAD:params.yaml"], capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return (REPO / "params.yaml").read_text(encoding="utf-8")


def committed_params() -> dict[str, Any]:
    """The committed params.yaml as a mapping."""
    return yaml.safe_load(committed_params_text())
