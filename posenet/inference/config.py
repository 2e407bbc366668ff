"""Predictor settings: one validated dataclass, built from params ``predict`` and a preset."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from posenet.codec.letterbox import valid_input_size
from posenet.device import resolve_device
from posenet.errors import ParamsError
from posenet.inference.presets import PRESETS
from posenet.runtime.backends import CPU_ONLY

if TYPE_CHECKING:
    from posenet.params import PredictParams

__all__ = ["PRESET_FALLBACK_BACKEND", "PredictorConfig", "runnable_preset_backend", "sizes_text"]

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
    fit_aspect: each input is cut to the image's aspect ratio (posenet.codec.letterbox.fitted_input_size: same
    pixels per model-input pixel, no padding beyond a stride) instead of TF.js's letterbox into ``input_size``.
    opencv_resize: the letterbox resize runs in OpenCV on the 8-bit image (same sampling positions, about twice as
    fast, within a grey level) instead of TF.js's float resize (posenet.codec.letterbox.prepare_input).
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
    fit_aspect: bool = False
    opencv_resize: bool = False

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
    def from_params(cls, predict: PredictParams, preset: str | None = None,
                    device: str | torch.device | None = None, **overrides: Any) -> PredictorConfig:
        """Params ``predict``, the preset's settings on top (default ``predict.preset``; its backend as
        :func:`runnable_preset_backend` finds it for ``device``, None: the default device), then ``overrides`` (any
        field) unless None."""
        name = predict.preset if preset is None else preset
        if name not in PRESETS:
            raise ParamsError(f"preset = {name!r} is not one of {', '.join(PRESETS)}")
        chosen = dict(PRESETS[name])
        if "backend" in chosen:
            chosen["backend"] = runnable_preset_backend(chosen["backend"], resolve_device(device))
        settings = {"input_size": predict.input_size, "multi_pose": predict.multi_pose,
                    "max_poses": predict.max_poses, "score_threshold": predict.score_threshold,
                    "nms_radius": predict.nms_radius, "backend": predict.backend,
                    "calibration": predict.calibration, "streams": predict.streams, **chosen}
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


# A preset names the backend it is fastest on; where that backend cannot run (int8 is ONNX Runtime on the CPU: not on
# a GPU, nor without the [onnx] extra) the preset runs on this one, whose outputs are eager's.
PRESET_FALLBACK_BACKEND = "fused"
_FALLBACKS_LOGGED: set[str] = set()


def runnable_preset_backend(backend: str, device: torch.device) -> str:
    """A preset's ``backend`` if it runs on ``device`` with the packages installed, else
    :data:`PRESET_FALLBACK_BACKEND` (logged once per reason)."""
    if backend not in CPU_ONLY:
        return backend
    if device.type != "cpu":
        reason = f"backend {backend} runs on the CPU only, not on {device.type}"
    elif missing := [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]:
        reason = f"backend {backend} needs {' and '.join(missing)} (pip install -e '.[onnx]')"
    else:
        return backend
    if reason not in _FALLBACKS_LOGGED:
        _FALLBACKS_LOGGED.add(reason)
        log.info("%s: the preset runs on backend %s", reason, PRESET_FALLBACK_BACKEND)
    return PRESET_FALLBACK_BACKEND


def sizes_text(hws: Sequence[tuple[int, int]], fit_aspect: bool = False, flip: bool = False) -> str:
    """``513 px``, ``257x385 px``, ``769+1025 px, each cut to the image's aspect ratio, and mirrored``: the inputs
    that run (:class:`PredictorConfig` ``scale_hws``, ``fit_aspect``, ``flip``), for log lines and the app."""
    text = "+".join(str(h) if h == w else f"{h}x{w}" for h, w in hws) + " px"
    if fit_aspect:
        text += ", each cut to the image's aspect ratio" + "," * flip
    return text + " and mirrored" * flip
