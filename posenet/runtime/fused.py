"""The ``fused`` backend: PoseNet frozen by TorchScript for inference, the four 1x1 heads as one conv.

``torch.jit.freeze`` folds the weights into the graph; ``optimize_for_inference`` (CPU) then fuses each conv
with its ReLU6 (hardtanh) and prepacks the weights for oneDNN in its blocked layout, so activations stay in
that layout between layers. One 115-channel head conv replaces four reads of the feature map.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from posenet.models.mobilenet import HEADS, PoseNet, PoseNetOutput
from posenet.runtime.eager import example_input, full_float32

__all__ = ["HEAD_NAMES", "FusedBackend", "MergedHeadsPoseNet", "freeze_for_inference", "merged_head"]

HEAD_NAMES: tuple[str, ...] = tuple(HEADS)  # heatmap, offset, displacement_fwd, displacement_bwd


def merged_head(model: PoseNet) -> nn.Conv2d:
    """One 1x1 conv whose output channels are the four heads' channels, concatenated in ``HEADS`` order."""
    heads = [getattr(model, name) for name in HEAD_NAMES]
    head = nn.Conv2d(heads[0].in_channels, sum(h.out_channels for h in heads), 1).to(heads[0].weight.device)
    with torch.no_grad():
        head.weight.copy_(torch.cat([h.weight for h in heads]))
        head.bias.copy_(torch.cat([h.bias for h in heads]))
    return head


class MergedHeadsPoseNet(nn.Module):
    """``model``'s backbone + its four heads as one conv; same outputs, NCHW."""

    def __init__(self, model: PoseNet) -> None:
        super().__init__()
        self.features = model.features
        self.head = merged_head(model)
        self.sizes = [HEADS[name] for name in HEAD_NAMES]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """[N, 3, H, W] -> (heatmaps, offsets, displacements_fwd, displacements_bwd)."""
        return tuple(torch.split(self.head(self.features(x)), self.sizes, dim=1))


def freeze_for_inference(module: nn.Module, example: Tensor, optimize: bool = True) -> torch.jit.ScriptModule:
    """Trace and freeze ``module`` with ``example`` as the traced input; with ``optimize`` (CPU only) also fuse
    conv + activation and prepack the weights for oneDNN (float32 graphs: bfloat16 gains nothing from it)."""
    module = module.eval().requires_grad_(False)
    # TorchScript is deprecated in favour of torch.compile, which needs a C++ toolchain and a minute of
    # compilation per shape on a small CPU; freezing is instant and gives the same oneDNN fusion.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        frozen = torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
        if optimize and example.device.type == "cpu":
            frozen = torch.jit.optimize_for_inference(frozen)
    return frozen


class FusedBackend:
    """Frozen, fused TorchScript PoseNet (outputs within 1e-4 of eager)."""

    def __init__(self, model: PoseNet) -> None:
        device = next(model.parameters()).device
        self.module = freeze_for_inference(MergedHeadsPoseNet(model), example_input(model, device))

    def __call__(self, batch: Tensor) -> PoseNetOutput:
        """[N, 3, Rh, Rw] -> the four raw heads (float32)."""
        with torch.no_grad(), full_float32(batch):
            return PoseNetOutput(*self.module(batch))
