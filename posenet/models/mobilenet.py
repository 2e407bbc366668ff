"""MobileNetV1 PoseNet: the network of a variant (posenet.models.variants), output stride chosen at construction.

Past the requested output stride every stride becomes 1 and the dilation rate of the following depthwise convs
multiplies by that stride (atrous convolution), exactly as TF.js 1.x did, so the same weights serve every stride.
``padding = dilation`` equals TF ``SAME`` on the valid odd input sizes (k * stride + 1).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from posenet.constants import NUM_EDGES, NUM_KEYPOINTS
from posenet.errors import ModelError
from posenet.models.variants import Variant, get_variant, reachable_strides

__all__ = ["HEADS", "ConvBlock", "PoseNet", "PoseNetOutput", "SeparableBlock", "create_model", "strided_layers"]

HEADS: dict[str, int] = {
    "heatmap": NUM_KEYPOINTS,
    "offset": 2 * NUM_KEYPOINTS,
    "displacement_fwd": 2 * NUM_EDGES,
    "displacement_bwd": 2 * NUM_EDGES,
}


class PoseNetOutput(NamedTuple):
    """Raw PoseNet outputs, NCHW float32, TF.js channel layout (y block then x block), model-input pixels."""

    heatmaps: Tensor  # [N, 17, h, w] logits
    offsets: Tensor  # [N, 34, h, w]
    displacements_fwd: Tensor  # [N, 32, h, w]
    displacements_bwd: Tensor  # [N, 32, h, w]


class ConvBlock(nn.Module):
    """Full 3x3 conv (BN folded into the bias) + ReLU6: TF.js ``Conv2d_0``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """[N, in_ch, H, W] -> [N, out_ch, H', W']."""
        return self.act(self.conv(x))


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (stride, dilation) + ReLU6, pointwise 1x1 + ReLU6: TF.js ``Conv2d_<i>_{depthwise,pointwise}``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=dilation, dilation=dilation, groups=in_ch)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """[N, in_ch, H, W] -> [N, out_ch, H', W']."""
        return self.act(self.pointwise(self.act(self.depthwise(x))))


def strided_layers(variant: Variant, output_stride: int) -> list[tuple[str, int, int, int]]:
    """(kind, out_channels, stride, dilation) per layer for ``output_stride`` (TF.js ``toOutputStridedLayers``)."""
    reachable = reachable_strides(variant.name)
    if output_stride not in reachable:
        raise ModelError(f"{variant.name} cannot produce output stride {output_stride} "
                         f"(reachable: {', '.join(map(str, reachable))})")
    current, rate, out = 1, 1, []
    for kind, width, stride in variant.layers:
        if current == output_stride:
            out.append((kind, width, 1, rate))
            rate *= stride
        else:
            out.append((kind, width, stride, 1))
            current *= stride
    return out


class PoseNet(nn.Module):
    """MobileNetV1 backbone + four 1x1 heads. Input [N,3,H,W] in [-1, 1], H, W = k * stride + 1."""

    def __init__(self, variant: Variant, output_stride: int = 16) -> None:
        super().__init__()
        self.variant = variant.name
        self.output_stride = output_stride
        layers: list[nn.Module] = []
        in_ch = 3
        for kind, width, stride, dilation in strided_layers(variant, output_stride):
            layers.append(ConvBlock(in_ch, width, stride) if kind == "conv"
                          else SeparableBlock(in_ch, width, stride, dilation))
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.heatmap = nn.Conv2d(in_ch, HEADS["heatmap"], 1)
        self.offset = nn.Conv2d(in_ch, HEADS["offset"], 1)
        self.displacement_fwd = nn.Conv2d(in_ch, HEADS["displacement_fwd"], 1)
        self.displacement_bwd = nn.Conv2d(in_ch, HEADS["displacement_bwd"], 1)

    def forward(self, x: Tensor) -> PoseNetOutput:
        """[N, 3, H, W] in [-1, 1] -> the four raw heads at ``(H - 1) / output_stride + 1`` rows (and columns)."""
        f = self.features(x)
        return PoseNetOutput(self.heatmap(f), self.offset(f), self.displacement_fwd(f), self.displacement_bwd(f))


def create_model(name: str = "mobilenet_v1_075", stride: int = 16) -> PoseNet:
    """A randomly initialised PoseNet of variant ``name`` with output stride ``stride``."""
    return PoseNet(get_variant(name), stride)
