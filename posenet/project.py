"""Where a pipeline project's files are: the pretrained, trained and checkpoint paths under a project root.

A project is a checkout of this pipeline: the working directory when it holds ``models/``, else the checkout this
package was imported from (:func:`project_root`), so the CLI and the Python API find the pipeline's files from any
working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from posenet.models.variants import pretrained_cfg

__all__ = ["CHECKPOINTS_DIR", "PRETRAINED_DIR", "PROJECT_ROOT", "TRAINED_MODEL", "pretrained_dir", "pretrained_path",
           "project_root", "trained_path"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PRETRAINED_DIR = Path("models") / "pretrained"
TRAINED_MODEL = Path("models") / "trained" / "model.pt"
CHECKPOINTS_DIR = Path("models") / "checkpoints"  # the train stage's step_<N>.pt files


def project_root() -> Path:
    """The working directory when it holds ``models/``, else the checkout this package was imported from."""
    cwd = Path.cwd()
    return cwd if (cwd / "models").is_dir() else PROJECT_ROOT


def pretrained_dir(root: str | os.PathLike | None = None) -> Path:
    """The convert stage's output folder under project ``root`` (default :func:`project_root`)."""
    return Path(root or project_root()) / PRETRAINED_DIR


def pretrained_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where the convert stage writes the pretrained checkpoint of variant ``name`` under project ``root``."""
    return pretrained_dir(root) / pretrained_cfg(name).checkpoint


def trained_path(root: str | os.PathLike | None = None) -> Path:
    """Where the train stage writes the fine-tuned model under project ``root``."""
    return Path(root or project_root()) / TRAINED_MODEL
