"""Training state files: ``<checkpoints>/step_<N>.pt`` holding model, optimiser, scheduler, grad scaler, torch RNG
states and the step, so that a resumed run repeats the uninterrupted one."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenet.errors import ModelError
from posenet.models.checkpoint import read_checkpoint_file, save_torch_atomic

__all__ = ["CHECKPOINT_PATTERN", "TRAINING_STATE_KEYS", "find_last_checkpoint", "load_training_state",
           "remove_checkpoints", "save_training_state"]

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
TRAINING_STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "step")


def find_last_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest step in ``folder`` (``step_<N>.pt``), or None."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return max(found)[1] if found else None


def remove_checkpoints(folder: Path) -> None:
    """Delete the ``step_<N>.pt`` files in ``folder`` (a fresh run's stale checkpoints would mislead a resume)."""
    if folder.is_dir():
        for stale in folder.iterdir():
            if CHECKPOINT_PATTERN.match(stale.name):
                stale.unlink()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_training_state(folder: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, scaler: torch.amp.GradScaler) -> Path:
    """Write ``folder/step_<N>.pt`` atomically (resume state: model, optimiser, scheduler, scaler, RNG, step)."""
    path = folder / f"step_{step:06d}.pt"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(), "rng": _rng_state(), "step": step}
    save_torch_atomic(path, state)
    log.debug("checkpoint %s", path)
    return path



def load_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                scaler: torch.amp.GradScaler) -> int:
    """Restore a ``save_training_state`` checkpoint into the given objects and the torch RNGs; returns its step.
    ModelError naming the file when it is unreadable (``read_checkpoint_file``) or not a training checkpoint."""
    state = read_checkpoint_file(path)
    if not isinstance(state, dict) or not all(key in state for key in TRAINING_STATE_KEYS):
        raise ModelError(f"{path}: not a training checkpoint (needs {', '.join(TRAINING_STATE_KEYS)})")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (RuntimeError, KeyError, ValueError) as err:  # another model.name / stride / optimiser than this run's
        raise ModelError(f"{path}: does not fit this run ({err.__class__.__name__}); start without --resume or "
                         "restore the params it was written with") from err
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["step"])
