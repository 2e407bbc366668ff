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


def save_torch_atomic(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically and byte-deterministically.

    Saved by path, torch names the zip's root folder after the (random) temporary file, so identical weights
    got a new md5 on every run; saved into an open file it uses a fixed name.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def save_checkpoint(path: str | os.PathLike, model: nn.Module | dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``{"state_dict", "meta"}`` to ``path`` atomically. ``meta`` holds plain Python values only."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    save_torch_atomic(path, {"state_dict": state, "meta": dict(meta)})


def read_checkpoint_file(path: str | os.PathLike) -> Any:
    """``torch.load`` of a checkpoint file onto the CPU (``weights_only=True``); ModelError naming the file when
    it is missing or unreadable. Callers check the structure of what it returns."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        raise ModelError(f"{path}: not a readable checkpoint ({err.__class__.__name__})") from err


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint -> (state_dict, meta); ModelError naming the file when missing or unreadable."""
    path = Path(path)
    obj = read_checkpoint_file(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict):
        raise ModelError(f"{path}: not a posenet checkpoint (no 'state_dict')")
    return obj["state_dict"], dict(obj.get("meta") or {})


def checkpoint_variant(meta: dict[str, Any]) -> str:
    """The variant a checkpoint's ``meta`` names (files from before the field existed hold the 0.75 net)."""
    return str(meta.get("variant") or "mobilenet_v1_075")


def load_model(name: str = "mobilenet_v1_075", stride: int = 16, weights: str | os.PathLike | None = None,
               device: str | torch.device | None = None) -> PoseNet:
    """PoseNet ``name`` at output ``stride`` with weights from a checkpoint, in eval mode on ``device``.

    ``weights`` None means Google's pretrained weights: the convert stage's ``models/pretrained/<name>.pt`` of
    this checkout, else fetched and converted into the user cache on first use
    (:func:`posenet.models.pretrained.pretrained_checkpoint`).
    """
    from posenet.models.pretrained import pretrained_checkpoint  # it reads checkpoints: imported on use

    model = create_model(name, stride)
    path = Path(weights) if weights is not None else pretrained_checkpoint(name)
    state, meta = load_checkpoint(path)
    variant = checkpoint_variant(meta) if "variant" in meta else name
    if variant != name:
        raise ModelError(f"{path}: checkpoint holds {variant}, not {name}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ModelError(f"{path}: weights do not fit {name}: {' '.join(s.strip() for s in first[:2])}") from err
    log.debug("loaded %s (stride %d) from %s", name, stride, path)
    return model.to(device or "cpu").eval()
