"""Checkpoint files: ``{"state_dict": ..., "meta": {...}}`` written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenet.errors import ModelError
from posenet.io import atomic_path
from posenet.models.mobilenet import PoseNet, create_model

log = logging.getLogger(__name__)

DEFAULT_PRETRAINED_DIR = Path("models/pretrained")


def save_checkpoint(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``{"state_dict", "meta"}`` to ``path`` atomically. ``meta`` holds plain Python values only."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "meta": dict(meta)}, tmp)


def read_checkpoint_file(path: str | os.PathLike) -> Any:
    """``torch.load`` of a checkpoint file onto the CPU (``weights_only=True``); ModelError naming the file when
    it is missing or unreadable. Callers check the structure of what it returns."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found (run `dvc repro convert` or pass a .pt file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        raise ModelError(f"{path}: not a readable checkpoint ({err.__class__.__name__})") from None


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint -> (state_dict, meta); ModelError naming the file when missing or unreadable."""
    path = Path(path)
    obj = read_checkpoint_file(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict):
        raise ModelError(f"{path}: not a posenet checkpoint (no 'state_dict')")
    return obj["state_dict"], dict(obj.get("meta") or {})


def load_model(name: str = "mobilenet_v1_075", stride: int = 16, weights: str | os.PathLike | None = None,
               device: str | torch.device | None = None) -> PoseNet:
    """PoseNet ``name`` at output ``stride`` with weights from a checkpoint, in eval mode on ``device``.

    ``weights`` None means ``models/pretrained/<name>.pt`` (the convert stage's output).
    """
    model = create_model(name, stride)
    path = Path(weights) if weights is not None else DEFAULT_PRETRAINED_DIR / f"{name}.pt"
    state, meta = load_checkpoint(path)
    variant = meta.get("variant", name)
    if variant != name:
        raise ModelError(f"{path}: checkpoint holds {variant}, not {name}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ModelError(f"{path}: weights do not fit {name}: {' '.join(s.strip() for s in first[:2])}") from None
    log.debug("loaded %s (stride %d) from %s", name, stride, path)
    return model.to(device or "cpu").eval()
