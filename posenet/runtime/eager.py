"""The eager backend (the model as it is, full float32: the parity reference) and what the torch backends share."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from posenet.models.mobilenet import PoseNet, PoseNetOutput

__all__ = ["EagerBackend", "example_input", "full_float32"]


class EagerBackend:
    """The model itself in inference mode, full float32."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, batch: torch.Tensor) -> PoseNetOutput:
        """[N, 3, Rh, Rw] on the model's device -> the four raw heads."""
        with torch.inference_mode(), full_float32(batch):
            return self.model(batch)


def full_float32(batch: torch.Tensor) -> contextlib.AbstractContextManager[object]:
    """cuDNN without TF32 for a CUDA ``batch`` (TF32, PyTorch's CUDA default, moves heatmap scores by ~1e-3), a
    no-op on the CPU: the flags are process-wide, and streams (``Predictor(streams=...)``) switching them from two
    threads would leave them wrong."""
    return torch.backends.cudnn.flags(enabled=True, allow_tf32=False) if batch.is_cuda else contextlib.nullcontext()


def example_input(model: PoseNet, device: torch.device) -> Tensor:
    """A small valid input for tracing (the traced graph serves every batch size and valid H, W)."""
    side = 4 * int(model.output_stride) + 1
    return torch.zeros(1, 3, side, side, device=device)
