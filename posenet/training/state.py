"""Training state files: ``<checkpoints>/step_<N>.pt`` holding model, optimiser, scheduler, grad scaler, torch RNG
states and the step (and the trainer's extras: fingerprint, model selection), so that a resumed run repeats the
uninterrupted one; the fingerprint of what a run's result depends on (params, input files, code, initial weights),
stored in each file so that only a run with the same fingerprint resumes from it; and beside them ``best.pt`` (the
best model by val AP so far) and ``last.pt`` (the model of the last step), model files every consumer loads."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenet.errors import ModelError
from posenet.models.checkpoint import read_checkpoint_file, save_torch_atomic

__all__ = ["BEST_MODEL", "CHECKPOINT_PATTERN", "LAST_MODEL", "TRAINING_STATE_KEYS", "find_last_checkpoint",
           "read_training_state", "remove_checkpoints", "restore_training_state", "run_fingerprint",
           "save_training_state"]

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
TRAINING_STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "step")
BEST_MODEL = "best.pt"
LAST_MODEL = "last.pt"


def find_last_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest step in ``folder`` (``step_<N>.pt``), or None."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return max(found)[1] if found else None


def remove_checkpoints(folder: Path) -> None:
    """Delete the ``step_<N>.pt``, ``best.pt`` and ``last.pt`` files in ``folder`` (a fresh run's stale checkpoints
    would mislead a resume)."""
    if folder.is_dir():
        for stale in folder.iterdir():
            if CHECKPOINT_PATTERN.match(stale.name) or stale.name in (BEST_MODEL, LAST_MODEL):
                stale.unlink()


_CHUNK = 1 << 20
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the posenet package: its code is part of the fingerprint


def _hash_tree(digest: Any, root: Path, suffixes: tuple[str, ...] = ()) -> None:
    """Feed ``digest`` with the relative path and bytes of ``root`` (a file) or of every file below it (sorted;
    only names ending in ``suffixes`` when given); a missing path feeds its name only."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes or ("",))) \
        if root.is_dir() else [root] if root.is_file() else []
    digest.update(f"{root}:{len(files)}\n".encode())
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix() if path != root else path.name}\n".encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)


def run_fingerprint(params: Mapping[str, Any], inputs: Iterable[Path], model: nn.Module) -> str:
    """sha256 (hex) of what a training run's result depends on: ``params`` (plain values: the params sections of the
    run), the content of every file in ``inputs`` (files or folders: annotations, images, targets), the code of the
    posenet package and the initial weights of ``model``. Equal fingerprints: a resumed run repeats the
    uninterrupted one; different: a checkpoint belongs to another run."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for path in inputs:
        _hash_tree(digest, Path(path))
    _hash_tree(digest, PACKAGE_DIR, (".py",))
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_training_state(folder: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: Any, scaler: torch.amp.GradScaler, extra: Mapping[str, Any]) -> Path:
    """Write ``folder/step_<N>.pt`` atomically (resume state: model, optimiser, scheduler, scaler, RNG, step, and
    ``extra``: plain values such as the run's fingerprint)."""
    path = folder / f"step_{step:06d}.pt"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(), "rng": _rng_state(), "step": step, **extra}
    save_torch_atomic(path, state)
    log.debug("checkpoint %s", path)
    return path


def read_training_state(path: Path) -> dict[str, Any]:
    """A ``save_training_state`` file as a dict (its ``step``, ``fingerprint``, ... readable before restoring);
    ModelError naming the file when it is unreadable (``read_checkpoint_file``) or not a training checkpoint."""
    state = read_checkpoint_file(path)
    if not isinstance(state, dict) or not all(key in state for key in TRAINING_STATE_KEYS):
        raise ModelError(f"{path}: not a training checkpoint (needs {', '.join(TRAINING_STATE_KEYS)})")
    return state


def restore_training_state(state: Mapping[str, Any], path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                           scheduler: Any, scaler: torch.amp.GradScaler) -> int:
    """Restore ``state`` (``read_training_state`` of ``path``) into the given objects and the torch RNGs; returns its
    step. ModelError naming ``path`` when it does not fit them."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (RuntimeError, KeyError, ValueError) as err:  # another model.name / stride / optimiser than this run's
        raise ModelError(f"{path}: does not fit this run ({err.__class__.__name__}); train with --restart or "
                         "restore the params it was written with") from err
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["step"])
