"""The ``bf16`` backend: the MobileNet backbone in bfloat16 (channels-last oneDNN kernels using AVX512-BF16 / AMX on
the CPU, tensor cores on CUDA), the merged 1x1 head in float32 so offsets keep float32 resolution."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor, nn

from posenet.device import cpu_flags
from posenet.errors import BackendError
from posenet.models.mobilenet import PoseNet, PoseNetOutput
from posenet.runtime.eager import example_input
from posenet.runtime.fused import MergedHeadsPoseNet, freeze_for_inference

__all__ = ["BF16_CPU_FLAGS", "Bf16Backend", "Bf16PoseNet", "check_bf16"]

BF16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def check_bf16(device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo") -> None:
    """BackendError (one line) when ``device`` has no native bfloat16 arithmetic."""
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise BackendError(f"backend bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support "
                               "(use backend fused)")
        return
    if not cpu_flags(cpuinfo) & set(BF16_CPU_FLAGS):
        raise BackendError("backend bf16 needs a CPU with AVX512-BF16 or AMX-BF16, and this one has neither "
                           "(use backend fused or int8)")


class Bf16PoseNet(nn.Module):
    """Backbone in bfloat16 channels-last, merged head in float32: [N, 3, H, W] float32 -> four float32 heads."""

    def __init__(self, model: PoseNet) -> None:
        super().__init__()
        merged = MergedHeadsPoseNet(model)
        self.features = copy.deepcopy(merged.features).to(torch.bfloat16).to(memory_format=torch.channels_last)
        self.head = merged.head
        self.sizes = merged.sizes

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """[N, 3, H, W] float32 -> (heatmaps, offsets, displacements_fwd, displacements_bwd), float32."""
        f = self.features(x.to(torch.bfloat16, memory_format=torch.channels_last))
        return tuple(torch.split(self.head(f.float()), self.sizes, dim=1))


class Bf16Backend:
    """Frozen TorchScript :class:`Bf16PoseNet`; BackendError when the device lacks bfloat16."""

    def __init__(self, model: PoseNet) -> None:
        device = next(model.parameters()).device
        check_bf16(device)
        module = Bf16PoseNet(model).eval().requires_grad_(False)
        self.module = freeze_for_inference(module, example_input(model, device), optimize=False)

    def __call__(self, batch: Tensor) -> PoseNetOutput:
        """[N, 3, Rh, Rw] float32 -> the four raw heads (float32)."""
        with torch.no_grad():
            return PoseNetOutput(*self.module(batch))
