"""MobileNetV1 PoseNet: the four TF.js variants, output stride chosen at construction.

Layer tables follow TF.js posenet 1.x (``mobilenet.ts``) and rwightman/posenet-pytorch: the 0.50 and 0.75
nets end at stride 16 with narrow last blocks; 1.00 and 1.01 share the 1.00 table (blocks 12-13 at stride 2
with 1024 channels). Past the requested output stride every stride becomes 1 and the dilation rate of the
following depthwise convs multiplies by that stride (atrous convolution), exactly as TF.js 1.x did, so the same
weights serve every stride. ``padding = dilation`` equals TF ``SAME`` on the valid odd input sizes (k * stride + 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor, nn

from posenet.constants import NUM_EDGES, NUM_KEYPOINTS, VALID_STRIDES
from posenet.errors import ModelError

# (kind, out_channels, stride) per TF.js layer Conv2d_<i>; kind "conv" = full 3x3 conv, "sep" = dw 3x3 + pw 1x1.
LayerDef = tuple[str, int, int]


def _table(widths: tuple[int, ...], strides: tuple[int, ...]) -> tuple[LayerDef, ...]:
    """Layer table: a full conv first, then separable blocks, each (kind, out_channels, stride)."""
    return tuple(("conv" if i == 0 else "sep", w, s) for i, (w, s) in enumerate(zip(widths, strides)))


_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1)
_NARROW_TAIL = (1, 1)  # 0.50 / 0.75: blocks 12-13 keep the width and stride 1 (total stride 16)
_WIDE_TAIL = (2, 1)  # 1.00 / 1.01: block 12 has stride 2 and 1024 channels (total stride 32)
# TF.js uses the 1.00 table for the 1.01 checkpoint too (a differently trained net, same shapes).
_WIDTHS_100 = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


@dataclass(frozen=True)
class Variant:
    """One TF.js PoseNet MobileNetV1 variant: its multiplier and layer table."""

    name: str
    multiplier: float
    layers: tuple[LayerDef, ...]

    @property
    def max_stride(self) -> int:
        """Total stride of the layer table (pixels per output cell when no layer is dilated): 16 or 32."""
        stride = 1
        for _, _, s in self.layers:
            stride *= s
        return stride


def _variant(name: str, multiplier: float, widths: tuple[int, ...], tail: tuple[int, int]) -> Variant:
    """Variant ``name`` from its per-layer widths and the strides of its last two blocks."""
    return Variant(name, multiplier, _table(widths, _STRIDES + tail))


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        _variant("mobilenet_v1_050", 0.50, (16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 256, 256),
                 _NARROW_TAIL),
        _variant("mobilenet_v1_075", 0.75, (24, 48, 96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384),
                 _NARROW_TAIL),
        _variant("mobilenet_v1_100", 1.00, _WIDTHS_100, _WIDE_TAIL),
        _variant("mobilenet_v1_101", 1.01, _WIDTHS_100, _WIDE_TAIL),
    )
}

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


def get_variant(name: str) -> Variant:
    """The registered variant ``name``; ModelError naming the known ones otherwise."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown model {name!r} (known: {', '.join(VARIANTS)})") from None


def max_output_stride(name: str) -> int:
    """The largest output stride variant ``name`` can produce (16 for 0.50 / 0.75, 32 for 1.00 / 1.01), read from
    its layer table without building a model; ModelError for an unknown name."""
    return get_variant(name).max_stride


def reachable_strides(name: str) -> tuple[int, ...]:
    """The output strides (of ``VALID_STRIDES``: 8, 16, 32) variant ``name`` can produce; ModelError for an
    unknown name."""
    return tuple(s for s in VALID_STRIDES if s <= max_output_stride(name))


def create_model(name: str = "mobilenet_v1_075", stride: int = 16) -> PoseNet:
    """A randomly initialised PoseNet of variant ``name`` with output stride ``stride``."""
    return PoseNet(get_variant(name), stride)
