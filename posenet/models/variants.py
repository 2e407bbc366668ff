"""The four TF.js PoseNet MobileNetV1 variants (layer tables) and where their pretrained weights come from.

Layer tables follow TF.js posenet 1.x (``mobilenet.ts``) and rwightman/posenet-pytorch: the 0.50 and 0.75
nets end at stride 16 with narrow last blocks; 1.00 and 1.01 share the 1.00 table (blocks 12-13 at stride 2
with 1024 channels). Pure data: no torch, so params validation and the weight sources can read it.
"""


from __future__ import annotations

from dataclasses import dataclass

from posenet.constants import VALID_STRIDES
from posenet.errors import ModelError

__all__ = ["PRETRAINED_CFGS", "VARIANTS", "PretrainedCfg", "Variant", "get_variant", "max_output_stride",
           "pretrained_cfg", "reachable_strides"]

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




@dataclass(frozen=True)
class PretrainedCfg:
    """Where one variant's pretrained weights come from (like timm's ``default_cfgs``). Every variant takes RGB
    ``x / 127.5 - 1`` inputs of side ``k * stride + 1`` (posenet.codec.letterbox), TF.js's default being 513."""

    variant: str
    google_dir: str  # folder of its legacy manifest under ``weights.google_url``
    in_npm: bool  # shipped by the npm package (DEFAULT_NPM_PACKAGE): Google's 0.75 net only
    checkpoint: str  # file name under models/pretrained/ and in the user cache


PRETRAINED_CFGS: dict[str, PretrainedCfg] = {
    name: PretrainedCfg(name, google_dir=name, in_npm=name == "mobilenet_v1_075", checkpoint=f"{name}.pt")
    for name in VARIANTS
}


def pretrained_cfg(name: str) -> PretrainedCfg:
    """The pretrained config of variant ``name`` (ModelError naming the known ones otherwise)."""
    get_variant(name)
    return PRETRAINED_CFGS[name]
