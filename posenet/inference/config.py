"""Predictor settings: one validated dataclass, built from params ``predict`` and a preset."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from posenet.codec.letterbox import valid_input_size
from posenet.errors import ParamsError
from posenet.inference.presets import PRESETS

if TYPE_CHECKING:
    from posenet.params import PredictParams

__all__ = ["PredictorConfig", "sizes_text"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorConfig:
    """What a Predictor computes (defaults: TF.js PoseNet 2.2.2's ``res513`` multi-pose settings).

    input_size: model input side (int, square) or (height, width), pixels; sizes that are not ``k * stride + 1``
    are rounded down as TF.js does. nms_radius: model-input pixels. backend: a posenet.runtime backend name;
    calibration: int8 only, the folder of photos that calibrates the quantisation. scales / flip: test-time
    augmentation (posenet.inference.tta): the model runs at ``input_size * scale`` per scale, and mirrored when
    ``flip``. streams: images of a batch run this many at a time, one per CPU thread (posenet.inference.streams).
    reduced_decode: image files (``Predictor.run_file``) are decoded at the smallest JPEG DCT scale that keeps the
    pixels the largest input uses, not whole (TF.js decodes them whole; posenet.io.media.read_image_reduced).
    """

    input_size: int | tuple[int, int] = 513
    multi_pose: bool = True
    max_poses: int = 10
    score_threshold: float = 0.5
    nms_radius: float = 20.0
    backend: str = "eager"
    calibration: str | os.PathLike | None = None
    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    streams: int = 1
    reduced_decode: bool = False

    def __post_init__(self) -> None:
        size = self.input_size
        sizes = (size, size) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        if len(sizes) != 2 or min(sizes) < 2:
            raise ParamsError(f"input_size = {size!r} must be a side or (height, width) in pixels")
        object.__setattr__(self, "input_size", sizes if sizes[0] != sizes[1] else int(sizes[0]))
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        if self.max_poses < 1:
            raise ParamsError(f"max_poses = {self.max_poses} must be at least 1")
        if len(self.scales) == 0 or min(self.scales) <= 0:
            raise ParamsError(f"scales = {self.scales!r} must be positive factors of the input size")
        if self.streams < 1:
            raise ParamsError(f"streams = {self.streams} must be at least 1")

    @classmethod
    def from_params(cls, predict: PredictParams, preset: str | None = None, **overrides: Any) -> PredictorConfig:
        """Params ``predict``, the preset's settings on top (default ``predict.preset``), then ``overrides`` (any
        field) unless None."""
        name = predict.preset if preset is None else preset
        if name not in PRESETS:
            raise ParamsError(f"preset = {name!r} is not one of {', '.join(PRESETS)}")
        settings = {"input_size": predict.input_size, "multi_pose": predict.multi_pose,
                    "max_poses": predict.max_poses, "score_threshold": predict.score_threshold,
                    "nms_radius": predict.nms_radius, "backend": predict.backend,
                    "calibration": predict.calibration, "streams": predict.streams, **PRESETS[name]}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**settings)

    def replace(self, **changes: Any) -> PredictorConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def input_hw(self, output_stride: int) -> tuple[int, int]:
        """The model input (Rh, Rw) at scale 1: ``input_size`` rounded down to ``k * output_stride + 1``."""
        size = self.input_size
        sizes = (size, size) if isinstance(size, int) else tuple(size)
        if min(sizes) <= output_stride:
            raise ParamsError(f"input_size = {size!r} must be larger than the output stride {output_stride}")
        hw = tuple(valid_input_size(int(s), output_stride) for s in sizes)
        if hw != sizes:
            log.info("input size %s rounded down to the valid %s (k * %d + 1)", sizes, hw, output_stride)
        return hw

    def scale_hws(self, input_hw: tuple[int, int], output_stride: int) -> list[tuple[int, int]]:
        """The model inputs (Rh, Rw) that run, one per scale of ``input_hw`` (:meth:`input_hw`), each rounded down
        to a valid size."""
        hws = [tuple(valid_input_size(int(s * side), output_stride) for side in input_hw) for s in self.scales]
        if min(min(hw) for hw in hws) <= output_stride:
            raise ParamsError(f"scales = {self.scales!r} shrink the input to the output stride or below")
        return hws


def sizes_text(hws: Sequence[tuple[int, int]]) -> str:
    """``513`` or ``769+1025`` or ``257x385``: the input sizes that run, for log lines and the app."""
    return "+".join(str(h) if h == w else f"{h}x{w}" for h, w in hws)
