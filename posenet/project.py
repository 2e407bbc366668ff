"""Where a pipeline project's files are: finding the project, and its pretrained, trained and checkpoint paths.

A project is a folder holding ``dvc.yaml`` and ``models/`` (a checkout of this pipeline): the working directory
or its nearest parent that is one (:func:`find_project`), like git finding its repository. Outside any project
there are no project files: the commands serve Google's pretrained weights from the user cache
(posenet.models.factory).
"""

from __future__ import annotations

import os
from pathlib import Path

from posenet.models.variants import pretrained_cfg

__all__ = ["CHECKPOINTS_DIR", "PRETRAINED_DIR", "TRAINED_MODEL", "find_project", "pretrained_dir", "pretrained_path",
           "trained_path"]

PRETRAINED_DIR = Path("models") / "pretrained"
TRAINED_MODEL = Path("models") / "trained" / "model.pt"
CHECKPOINTS_DIR = Path("models") / "checkpoints"  # the train stage's step_<N>.pt files


def find_project(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder from ``start`` (default the working directory) upward holding ``dvc.yaml`` and
    ``models/``, as an absolute path; None outside any project."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "models").is_dir():
            return folder
    return None


def pretrained_dir(root: str | os.PathLike) -> Path:
    """The convert stage's output folder under project ``root``."""
    return Path(root) / PRETRAINED_DIR


def pretrained_path(name: str, root: str | os.PathLike) -> Path:
    """Where the convert stage writes the pretrained checkpoint of variant ``name`` under project ``root``."""
    return pretrained_dir(root) / pretrained_cfg(name).checkpoint


def trained_path(root: str | os.PathLike) -> Path:
    """Where the train stage writes the fine-tuned model under project ``root``."""
    return Path(root) / TRAINED_MODEL
