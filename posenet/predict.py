"""Predictor: RGB image(s) -> poses in ORIGINAL image pixels, the way TF.js PoseNet 2.2.2 does it.

letterbox + legacy bilinear resize + ``x/127.5 - 1`` (posenet.preprocess) -> PoseNet forward in
``torch.inference_mode`` (CUDA when present, else CPU) -> sigmoid -> decode (posenet.codec) ->
rescale to the image. Defaults are the reference ``res513`` settings.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from posenet.codec import PersonLabCodec
from posenet.device import resolve_device
from posenet.errors import ParamsError
from posenet.pose import Pose
from posenet.preprocess import Letterbox, prepare_input, scale_poses, to_batch, valid_input_size
from posenet.runtime.backends import check_backend, make_backend

if TYPE_CHECKING:
    from posenet.models import PoseNetOutput
    from posenet.params import Params

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Everything one forward pass gives for one image.

    poses: in ORIGINAL image pixels. Raw maps are channels-last numpy float32 on the output grid [h, w, C]
    (heatmap_scores after sigmoid; offsets/displacements in model-input pixels, TF.js layout).
    input_hw: model input (Rh, Rw); padding: (top, bottom, left, right) image pixels; scale_yx: image px per input px.
    timings_ms: "preprocess", "forward", "decode" (a batch's forward time is shared equally).
    """

    poses: list[Pose]
    heatmap_scores: np.ndarray
    offsets: np.ndarray
    displacements_fwd: np.ndarray
    displacements_bwd: np.ndarray
    input_hw: tuple[int, int]
    padding: tuple[int, int, int, int]
    scale_yx: tuple[float, float]
    output_stride: int
    timings_ms: dict[str, float] = field(default_factory=dict)


def _sigmoid_like_tfjs(logits: np.ndarray) -> np.ndarray:
    """TF.js CPU sigmoid: ``1 / (1 + exp(-x))`` in double, stored as float32 (saturates to exactly 1.0)."""
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)


class Predictor:
    """Pose estimation with a PoseNet model.

    input_size: model input side (int, square) or (height, width); sizes that are not ``k*stride+1``
    are rounded down as TF.js does. nms_radius is in model-input pixels. device: None = auto.
    backend: how the forward pass runs (``posenet.runtime.BACKENDS``: eager, fused, onnx, int8, bf16);
    calibration: int8 only, the folder of photos that calibrates the quantisation. Every backend but eager
    compiles a snapshot of the weights at construction: build a new Predictor after changing them.
    """

    def __init__(self, model: torch.nn.Module, input_size: int | Sequence[int] = 513, multi_pose: bool = True,
                 max_poses: int = 10, score_threshold: float = 0.5, nms_radius: float = 20.0,
                 device: str | torch.device | None = None, backend: str = "eager",
                 calibration: str | os.PathLike | None = None) -> None:
        self.device = resolve_device(device)
        check_backend(backend, self.device)  # before any work: a bad choice fails in one line
        self.model = model.to(self.device).eval()
        self.output_stride = int(model.output_stride)
        sizes = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
        if len(sizes) != 2 or min(sizes) <= self.output_stride:
            raise ParamsError(f"input_size = {input_size!r} must be larger than the output stride {self.output_stride}")
        self.input_hw = tuple(valid_input_size(int(s), self.output_stride) for s in sizes)
        if self.input_hw != sizes:
            log.info("input size %s rounded down to the valid %s (k * %d + 1)", sizes, self.input_hw, self.output_stride)
        self.codec = PersonLabCodec(self.input_hw, self.output_stride)
        if max_poses < 1:
            raise ParamsError(f"max_poses = {max_poses} must be at least 1")
        self.multi_pose = bool(multi_pose)
        self.max_poses = int(max_poses)
        self.score_threshold = float(score_threshold)
        self.nms_radius = float(nms_radius)
        self.backend_name = backend
        self.backend = make_backend(backend, self.model, self.device, calibration=calibration, input_hw=self.input_hw)

    @classmethod
    def from_params(cls, params: Params, weights: str | os.PathLike | None = None,
                    device: str | torch.device | None = None, model: torch.nn.Module | None = None,
                    **overrides: Any) -> Predictor:
        """Predictor from a ``posenet.params.Params`` (predict section) for ``model``, or, when no model is
        given, for ``load_model(params.model.name, params.model.stride, weights)``. ``overrides``: predict
        settings (``input_size``, ``max_poses``, ...) that replace the params' values unless None."""
        if model is None:
            from posenet.models import load_model

            model = load_model(params.model.name, params.model.stride, weights=weights, device=device)
        p = dataclasses.replace(params.predict, **{k: v for k, v in overrides.items() if v is not None})
        return cls(model, input_size=p.input_size, multi_pose=p.multi_pose, max_poses=p.max_poses,
                   score_threshold=p.score_threshold, nms_radius=p.nms_radius, device=device, backend=p.backend,
                   calibration=p.calibration)

    def __call__(self, image: np.ndarray) -> list[Pose]:
        """RGB uint8 [H, W, 3] -> poses in original image pixels."""
        return self.run(image).poses

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        """Several RGB uint8 images (any sizes) in one forward pass -> poses per image."""
        return [p.poses for p in self.run_batch(images)]

    def run(self, image: np.ndarray) -> Prediction:
        """One image -> Prediction (poses + raw maps + timings)."""
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Images -> one Prediction each; the images share one batched forward pass."""
        if len(images) == 0:
            return []
        t0 = time.perf_counter()
        inputs, boxes = zip(*(prepare_input(img, self.input_hw) for img in images))
        batch = to_batch(inputs, self.device)
        t1 = time.perf_counter()
        maps = [t.permute(0, 2, 3, 1).float().cpu().numpy() for t in self.forward(batch)]
        t2 = time.perf_counter()
        heat_logits, offsets, fwd, bwd = maps
        n = len(images)
        predictions = []
        for b in range(n):
            t3 = time.perf_counter()
            heat = _sigmoid_like_tfjs(heat_logits[b])
            poses = self._decode(heat, offsets[b], fwd[b], bwd[b], boxes[b])
            t4 = time.perf_counter()
            predictions.append(Prediction(
                poses=poses, heatmap_scores=heat, offsets=offsets[b], displacements_fwd=fwd[b],
                displacements_bwd=bwd[b], input_hw=self.input_hw, padding=boxes[b].padding,
                scale_yx=boxes[b].scale_yx, output_stride=self.output_stride,
                timings_ms={"preprocess": (t1 - t0) * 1e3 / n, "forward": (t2 - t1) * 1e3 / n,
                            "decode": (t4 - t3) * 1e3}))
        return predictions

    def forward(self, batch: torch.Tensor) -> PoseNetOutput:
        """Model outputs (NCHW float32) for a prepared batch [N, 3, Rh, Rw] on the device, through the backend:
        the one entry point of every forward pass."""
        return self.backend(batch)

    def _decode(self, heat: np.ndarray, offsets: np.ndarray, fwd: np.ndarray, bwd: np.ndarray,
                box: Letterbox) -> list[Pose]:
        if self.multi_pose:
            poses = self.codec.decode(heat, offsets, fwd, bwd, self.max_poses, self.score_threshold, self.nms_radius)
        else:
            poses = [self.codec.decode_single(heat, offsets)]
        return scale_poses(poses, box)
