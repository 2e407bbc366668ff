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
from posenet.io.atomic import atomic_path

__all__ = ["checkpoint_variant", "load_checkpoint", "read_checkpoint_file", "save_checkpoint", "save_torch_atomic"]

log = logging.getLogger(__name__)


def save_torch_atomic(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically; the same ``obj`` gives the same bytes (saved into an open file,
    so the zip's root folder name does not depend on the temporary file's name)."""
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
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError,
            IndexError, TypeError, AttributeError) as err:  # torch's unpickler on text or foreign files
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
