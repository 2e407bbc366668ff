"""The one device choice for training and inference (``auto``, ``cpu``, ``cuda`` or ``cuda:N``), and what the CPU
can do."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from posenet.errors import ParamsError

__all__ = ["cpu_flags", "resolve_device"]

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(device: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """None/``auto`` -> CUDA (GPU ``local_rank``) when available, else CPU; ``cuda`` -> GPU ``local_rank``.

    ParamsError (one line) for any other name, or for CUDA where there is none.
    """
    if isinstance(device, torch.device):
        device = str(device)
    device = device or "auto"
    if not _DEVICE.fullmatch(device):
        raise ParamsError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"device {device!r} but CUDA is not available here (use cpu or auto)")
    return torch.device("cuda", local_rank) if device == "cuda" else torch.device(device)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags the kernel reports for the first CPU (empty where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()
