"""Predictor: RGB image(s) -> poses in ORIGINAL image pixels, the way TF.js PoseNet 2.2.2 does it.

letterbox + legacy bilinear resize + ``x/127.5 - 1`` (posenet.preprocess) -> PoseNet forward in
``torch.inference_mode`` (CUDA when present, else CPU) -> sigmoid -> decode (posenet.codec) ->
rescale to the image. Defaults are the reference ``res513`` settings.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from posenet.codec import PersonLabCodec
from posenet.device import resolve_device
from posenet.errors import ParamsError
from posenet.pose import Pose
from posenet.preprocess import Letterbox, prepare_input, scale_poses, to_batch, valid_input_size
from posenet.presets import PRESETS
from posenet.runtime.backends import check_backend, make_backend, with_threads
from posenet.tta import PoseMaps, average_maps, flip_maps, fuse_scales

if TYPE_CHECKING:
    from posenet.models import PoseNetOutput
    from posenet.params import Params, PredictParams

__all__ = ["PRESETS", "Prediction", "Predictor", "predictor_settings"]

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


def predictor_settings(predict: PredictParams, preset: str | None = None) -> dict[str, Any]:
    """Predictor keyword arguments: params ``predict`` with the preset's settings on top (default predict.preset)."""
    name = predict.preset if preset is None else preset
    if name not in PRESETS:
        raise ParamsError(f"preset = {name!r} is not one of {', '.join(PRESETS)}")
    return {"input_size": predict.input_size, "multi_pose": predict.multi_pose, "max_poses": predict.max_poses,
            "score_threshold": predict.score_threshold, "nms_radius": predict.nms_radius, "backend": predict.backend,
            "calibration": predict.calibration, "streams": predict.streams, **PRESETS[name]}


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
    Test-time augmentation (posenet.tta; the defaults are TF.js exactly): ``scales`` runs the model at
    ``input_size * scale`` for each scale (rounded down to valid sizes) and fuses the maps on the largest grid,
    which the decoder then reads (nms_radius stays in its pixels); ``flip`` adds each input mirrored, its maps
    mirrored back and averaged in.
    streams (CPU only): :meth:`run_batch` runs its images this many at a time, one per worker thread, each with
    an equal share of ``torch.get_num_threads()`` (onnx/int8: a session per stream with that share), like
    OpenVINO's throughput streams: a depthwise network is memory-bound, so on a CPU one image per core beats one
    large batch over all cores (README "Backends"). Single images run on the calling thread, on all its threads.
    """

    def __init__(self, model: torch.nn.Module, input_size: int | Sequence[int] = 513, multi_pose: bool = True,
                 max_poses: int = 10, score_threshold: float = 0.5, nms_radius: float = 20.0,
                 device: str | torch.device | None = None, backend: str = "eager",
                 calibration: str | os.PathLike | None = None, scales: Sequence[float] = (1.0,),
                 flip: bool = False, streams: int = 1) -> None:
        self.device = resolve_device(device)
        check_backend(backend, self.device)  # before any work: a bad choice fails in one line
        self.model = model.to(self.device).eval()
        self.output_stride = int(model.output_stride)
        sizes = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
        if len(sizes) != 2 or min(sizes) <= self.output_stride:
            raise ParamsError(f"input_size = {input_size!r} must be larger than the output stride {self.output_stride}")
        self.input_hw = tuple(valid_input_size(int(s), self.output_stride) for s in sizes)
        if self.input_hw != sizes:
            log.info("input size %s rounded down to the valid %s (k * %d + 1)", sizes, self.input_hw,
                     self.output_stride)
        self.codec = PersonLabCodec(self.input_hw, self.output_stride)
        if max_poses < 1:
            raise ParamsError(f"max_poses = {max_poses} must be at least 1")
        self.multi_pose = bool(multi_pose)
        self.max_poses = int(max_poses)
        self.score_threshold = float(score_threshold)
        self.nms_radius = float(nms_radius)
        if len(scales) == 0 or min(scales) <= 0:
            raise ParamsError(f"scales = {tuple(scales)!r} must be positive factors of the input size")
        # Test-time augmentation (posenet.tta): model inputs of input_size * scale, decoded on the largest grid.
        self.scales = tuple(float(s) for s in scales)
        self.scale_hws = [tuple(valid_input_size(int(s * side), self.output_stride) for side in self.input_hw)
                          for s in self.scales]
        if min(min(hw) for hw in self.scale_hws) <= self.output_stride:
            raise ParamsError(f"scales = {self.scales!r} shrink the input to the output stride or below")
        self.flip = bool(flip)
        if streams < 1:
            raise ParamsError(f"streams = {streams} must be at least 1")
        if streams > 1 and self.device.type != "cpu":
            raise ParamsError(f"streams = {streams}: streams run on the CPU only (device {self.device})")
        self.streams = int(streams)
        if self.streams > torch.get_num_threads():
            log.warning("streams = %d > %d threads: the streams share cores", self.streams, torch.get_num_threads())
        self.stream_threads = max(1, torch.get_num_threads() // self.streams)
        self._workers = (ThreadPoolExecutor(self.streams, thread_name_prefix="posenet-stream")
                         if self.streams > 1 else None)
        self._stream = threading.local()  # a worker's own backend (onnx/int8: its own session)
        # Last: every check above is cheap, while a backend may compile or quantise the model for seconds.
        self.backend_name = backend
        self.backend = make_backend(backend, self.model, self.device, calibration=calibration, input_hw=self.input_hw)

    @classmethod
    def from_params(cls, params: Params, weights: str | os.PathLike | None = None,
                    device: str | torch.device | None = None, model: torch.nn.Module | None = None,
                    preset: str | None = None, **overrides: Any) -> Predictor:
        """Predictor from a ``posenet.params.Params`` for ``model``, or, when no model is given, for
        ``load_model(params.model.name, params.model.stride, weights)``: the predict section, the ``preset`` (default
        predict.preset) on top, then ``overrides`` (``input_size``, ``max_poses``, ``backend``, ...) unless None."""
        settings = predictor_settings(params.predict, preset)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        if model is None:
            from posenet.models import load_model

            model = load_model(params.model.name, params.model.stride, weights=weights, device=device)
        return cls(model, device=device, **settings)

    def __call__(self, image: np.ndarray) -> list[Pose]:
        """RGB uint8 [H, W, 3] -> poses in original image pixels."""
        return self.run(image).poses

    def run(self, image: np.ndarray) -> Prediction:
        """One image -> Prediction (poses + raw maps + timings)."""
        return self.run_batch([image])[0]

    def run_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Images -> one Prediction each, in order: with one stream the images (and their mirrored copies) share a
        forward pass per scale, with more they run one per stream at a time."""
        if self._workers is None or len(images) <= 1:
            return self._run_group(images)
        threads = torch.get_num_threads()
        try:
            return list(self._workers.map(self._run_in_stream, images))
        finally:
            # torch.set_num_threads in a worker also sets the default of threads yet to use torch (this one's
            # count too); the workers keep theirs.
            torch.set_num_threads(threads)

    def _run_in_stream(self, image: np.ndarray) -> Prediction:
        """One image on a stream worker thread, with its share of the threads and its own backend."""
        torch.set_num_threads(self.stream_threads)
        if not hasattr(self._stream, "backend"):
            self._stream.backend = with_threads(self.backend, self.stream_threads)
        return self._run_group([image])[0]

    def _run_group(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Images -> one Prediction each, on the calling thread, one forward pass per scale."""
        if len(images) == 0:
            return []
        n = len(images)
        per_scale = []  # (letterboxes, [heatmap logits, offsets, fwd, bwd] as numpy [N, h, w, C]) per input size
        prep_s = forward_s = 0.0
        for hw in self.scale_hws:
            t0 = time.perf_counter()
            inputs, boxes = zip(*(prepare_input(img, hw) for img in images))
            batch = to_batch(inputs, self.device)
            if self.flip:
                batch = torch.cat([batch, batch.flip(-1)])
            t1 = time.perf_counter()
            per_scale.append((boxes, [t.permute(0, 2, 3, 1).float().cpu().numpy() for t in self.forward(batch)]))
            prep_s, forward_s = prep_s + t1 - t0, forward_s + time.perf_counter() - t1
        target = int(np.argmax([h * w for h, w in self.scale_hws]))
        predictions = []
        for b in range(n):
            t3 = time.perf_counter()
            box = per_scale[target][0][b]
            maps = fuse_scales([self._image_maps(m, b, n) for _, m in per_scale], [bx[b] for bx, _ in per_scale],
                               box, self.output_stride)
            poses = self._decode(*maps, box)
            t4 = time.perf_counter()
            predictions.append(Prediction(
                poses=poses, heatmap_scores=maps.heatmap_scores, offsets=maps.offsets,
                displacements_fwd=maps.displacements_fwd, displacements_bwd=maps.displacements_bwd,
                input_hw=box.input_hw, padding=box.padding, scale_yx=box.scale_yx, output_stride=self.output_stride,
                timings_ms={"preprocess": prep_s * 1e3 / n, "forward": forward_s * 1e3 / n,
                            "decode": (t4 - t3) * 1e3}))
        return predictions

    def _image_maps(self, maps: list[np.ndarray], b: int, n: int) -> PoseMaps:
        """Image ``b``'s maps at one input size: sigmoid heatmaps, averaged with its mirrored copy's under flip."""
        heat, off, fwd, bwd = maps
        own = PoseMaps(_sigmoid_like_tfjs(heat[b]), off[b], fwd[b], bwd[b])
        if not self.flip:
            return own
        mirrored = PoseMaps(_sigmoid_like_tfjs(heat[n + b]), off[n + b], fwd[n + b], bwd[n + b])
        return average_maps([own, flip_maps(mirrored)])

    def forward(self, batch: torch.Tensor) -> PoseNetOutput:
        """Model outputs (NCHW float32) for a prepared batch [N, 3, Rh, Rw] on the device, through the backend:
        the one entry point of every forward pass (on a stream worker, through that stream's backend)."""
        return getattr(self._stream, "backend", self.backend)(batch)

    def decode_maps(self, heat: np.ndarray, offsets: np.ndarray, fwd: np.ndarray, bwd: np.ndarray) -> list[Pose]:
        """One image's maps (channels last, heatmap scores after sigmoid) -> poses in model-input pixels, with this
        Predictor's decoding settings (multi- or single-pose, max poses, score threshold, NMS radius)."""
        if self.multi_pose:
            return self.codec.decode(heat, offsets, fwd, bwd, self.max_poses, self.score_threshold, self.nms_radius)
        return [self.codec.decode_single(heat, offsets)]

    def _decode(self, heat: np.ndarray, offsets: np.ndarray, fwd: np.ndarray, bwd: np.ndarray,
                box: Letterbox) -> list[Pose]:
        return scale_poses(self.decode_maps(heat, offsets, fwd, bwd), box)
