"""Predictor: RGB image(s) -> poses in ORIGINAL image pixels, the way TF.js PoseNet 2.2.2 does it.

(file -> decoded image, reduced by the JPEG decoder where the model input is much smaller: posenet.io.media) ->
letterbox + legacy bilinear resize + ``x/127.5 - 1`` (posenet.codec.letterbox) -> to the model's NCHW batch ->
PoseNet forward through a posenet.runtime backend -> sigmoid, test-time augmentation (posenet.inference.tta) ->
decode (posenet.codec.personlab) -> rescale to the image. ``Prediction.timings_ms`` times each of these steps.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from posenet.codec.letterbox import Letterbox, fitted_input_size, prepare_input, scale_poses, to_batch
from posenet.codec.personlab import PersonLabCodec
from posenet.device import resolve_device
from posenet.errors import ParamsError
from posenet.inference.config import PredictorConfig
from posenet.inference.streams import StreamPool
from posenet.inference.tta import fuse_scales, image_maps
from posenet.io.media import ReducedImage, read_image, read_image_reduced
from posenet.pose import Pose
from posenet.runtime.backends import check_backend, make_backend

if TYPE_CHECKING:
    from posenet.models.mobilenet import PoseNetOutput
    from posenet.params import Params

__all__ = ["Prediction", "Predictor"]

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """Everything one forward pass gives for one image.

    poses: in ORIGINAL image pixels. Raw maps are channels-last numpy float32 on the output grid [h, w, C]
    (heatmap_scores after sigmoid; offsets/displacements in model-input pixels, TF.js layout).
    letterbox: where the image sits in the model input (the largest input that ran); output_stride: pixels per cell.
    image_factor: the image ran at 1 / image_factor of the file's size (:meth:`Predictor.run_file` with
    ``reduced_decode``; the letterbox and maps are of that image, the poses in the file's pixels).
    timings_ms: milliseconds of "resize" (letterbox, resize, normalise), "to_tensor" (the NCHW batch), "forward",
    "decode" (fusion and decoding), "rescale" (to image pixels), and "read" (file to pixels) from
    :meth:`Predictor.run_file`; a batch's shared steps are divided equally among its images.
    """

    poses: list[Pose]
    heatmap_scores: np.ndarray
    offsets: np.ndarray
    displacements_fwd: np.ndarray
    displacements_bwd: np.ndarray
    letterbox: Letterbox
    output_stride: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    image_factor: int = 1


class Predictor:
    """Pose estimation with a PoseNet model: RGB images -> poses in original image pixels.

    config: what it computes (posenet.inference.config.PredictorConfig; keyword ``settings`` are its fields, on
    top of ``config`` when both are given). device: None = CUDA when present, else CPU. Every backend but eager
    compiles a snapshot of the weights at construction: build a new Predictor after changing them. Single images
    run on the calling thread with all its threads; :meth:`run_batch` uses ``config.streams`` worker threads.
    model: a PoseNet module, or an exported ONNX file (:class:`posenet.runtime.onnx.OnnxModel`, backend onnx).
    """

    def __init__(self, model: torch.nn.Module, config: PredictorConfig | None = None, *,
                 device: str | torch.device | None = None, **settings: Any) -> None:
        if config is not None and not isinstance(config, PredictorConfig):
            raise TypeError(f"config must be a PredictorConfig, not {type(config).__name__} (settings are keywords: "
                            "Predictor(model, input_size=513, ...))")
        self.config = config.replace(**settings) if config is not None else PredictorConfig(**settings)
        self.device = resolve_device(device)
        check_backend(self.config.backend, self.device)  # before any work: a bad choice fails in one line
        if self.config.streams > 1 and self.device.type != "cpu":
            raise ParamsError(f"streams = {self.config.streams}: streams run on the CPU only (device {self.device})")
        self.model = model.to(self.device).eval()
        self.output_stride = int(model.output_stride)
        self.input_hw = self.config.input_hw(self.output_stride)
        self.scale_hws = self.config.scale_hws(self.input_hw, self.output_stride)
        # the largest input: its grid is where the scales' maps are fused, and what a reduced decode must fill
        self._largest = int(np.argmax([h * w for h, w in self.scale_hws]))
        self.codec = PersonLabCodec(self.input_hw, self.output_stride)
        self.streams = StreamPool(self.config.streams) if self.config.streams > 1 else None
        # Last: every check above is cheap, while a backend may compile or quantise the model for seconds.
        self.backend = make_backend(self.config.backend, self.model, self.device,
                                    calibration=self.config.calibration, input_hw=self.input_hw)

    @classmethod
    def from_params(cls, params: Params, weights: str | os.PathLike | None = None,
                    device: str | torch.device | None = None, model: torch.nn.Module | None = None,
                    preset: str | None = None, **overrides: Any) -> Predictor:
        """Predictor from a ``posenet.params.Params`` for ``model``, or, when no model is given, for
        ``load_model(params.model.name, params.model.stride, weights)``: the predict section, the ``preset`` (default
        predict.preset) on top, then ``overrides`` (PredictorConfig fields) unless None."""
        config = PredictorConfig.from_params(params.predict, preset, device, **overrides)
        if model is None:
            from posenet.models.factory import load_model

            model = load_model(params.model.name, params.model.stride, weights=weights, device=device)
        return cls(model, config, device=device)

    def __call__(self, image: np.ndarray) -> list[Pose]:
        """RGB uint8 [H, W, 3] -> poses in original image pixels."""
        return self.run(image).poses

    def run(self, image: np.ndarray) -> Prediction:
        """One image -> Prediction (poses + raw maps + timings)."""
        return self.run_batch([image])[0]

    def read(self, path: str | os.PathLike) -> ReducedImage:
        """An image file as this Predictor reads it: whole, or with ``config.reduced_decode`` at the smallest JPEG
        DCT scale that keeps every pixel its largest model input uses (posenet.io.media.read_image_reduced)."""
        if not self.config.reduced_decode:
            return ReducedImage(read_image(path), 1)
        return read_image_reduced(path, self.scale_hws[self._largest])

    def run_file(self, path: str | os.PathLike) -> Prediction:
        """An image file -> Prediction, poses in the file's pixels (ImageError when it cannot be read), read as
        :meth:`read` does."""
        t0 = time.perf_counter()
        image = self.read(path)
        t1 = time.perf_counter()
        prediction = self.run(image.pixels)
        if image.factor > 1:
            prediction.poses = [p.scaled(*image.to_full()) for p in prediction.poses]
            prediction.image_factor = image.factor
        prediction.timings_ms["read"] = (t1 - t0) * 1e3
        return prediction

    def run_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Images -> one Prediction each, in order: with one stream the images (and their mirrored copies) share a
        forward pass per scale, with more they run one per stream at a time."""
        if self.streams is None or len(images) <= 1:
            return self._run_group(images)
        return self.streams.map(lambda image: self._run_group([image])[0], images)

    def input_hw_for(self, image_hw: tuple[int, int], scale_hw: tuple[int, int]) -> tuple[int, int]:
        """The model input (Rh, Rw) an ``image_hw`` image runs at for the scale input ``scale_hw``: that input, or
        with ``config.fit_aspect`` the part of it the image's aspect ratio needs."""
        if not self.config.fit_aspect:
            return scale_hw
        return fitted_input_size(image_hw, scale_hw, self.output_stride)

    def _run_group(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Images -> one Prediction each, on the calling thread: per scale, one forward pass per input size (all
        the images when their inputs agree, as without ``fit_aspect``), mirrored copies in the same batch."""
        if len(images) == 0:
            return []
        flip = self.config.flip
        # per image, per scale: (letterbox, the batch's outputs [heat logits, offsets, fwd, bwd] as numpy
        # [B, h, w, C], the image's index in the batch, the batch's image count)
        per_image: list[list[tuple[Letterbox, list[np.ndarray], int, int]]] = [[] for _ in images]
        spent = dict.fromkeys(("resize", "to_tensor", "forward"), 0.0)  # seconds, the whole group
        for scale_hw in self.scale_hws:
            t0 = time.perf_counter()
            prepared = [prepare_input(img, self.input_hw_for(img.shape[:2], scale_hw), self.config.opencv_resize)
                        for img in images]
            spent["resize"] += time.perf_counter() - t0
            batches: dict[tuple[int, ...], list[int]] = {}
            for i, (x, _) in enumerate(prepared):
                batches.setdefault(x.shape, []).append(i)
            for members in batches.values():
                t1 = time.perf_counter()
                batch = to_batch([prepared[i][0] for i in members], self.device)
                if flip:
                    batch = torch.cat([batch, batch.flip(-1)])
                t2 = time.perf_counter()
                outputs = [t.permute(0, 2, 3, 1).float().cpu().numpy() for t in self.forward(batch)]
                spent["to_tensor"] += t2 - t1
                spent["forward"] += time.perf_counter() - t2
                for b, i in enumerate(members):
                    per_image[i].append((prepared[i][1], outputs, b, len(members)))
        predictions = []
        for scales in per_image:
            t3 = time.perf_counter()
            box = scales[self._largest][0]
            maps = fuse_scales([image_maps(out, b, n, flip) for _, out, b, n in scales], [s[0] for s in scales],
                               box, self.output_stride)
            model_poses = self.decode_maps(*maps)
            t4 = time.perf_counter()
            poses = scale_poses(model_poses, box)
            t5 = time.perf_counter()
            predictions.append(Prediction(
                poses=poses, heatmap_scores=maps.heatmap_scores, offsets=maps.offsets,
                displacements_fwd=maps.displacements_fwd, displacements_bwd=maps.displacements_bwd,
                letterbox=box, output_stride=self.output_stride,
                timings_ms={**{k: v * 1e3 / len(images) for k, v in spent.items()}, "decode": (t4 - t3) * 1e3,
                            "rescale": (t5 - t4) * 1e3}))
        return predictions

    def forward(self, batch: torch.Tensor) -> PoseNetOutput:
        """Model outputs (NCHW float32) for a prepared batch [N, 3, Rh, Rw] on the device, through the backend:
        the one entry point of every forward pass (on a stream worker, through that stream's backend)."""
        backend = self.backend if self.streams is None else self.streams.backend(self.backend)
        return backend(batch)

    def decode_maps(self, heat: np.ndarray, offsets: np.ndarray, fwd: np.ndarray, bwd: np.ndarray) -> list[Pose]:
        """One image's maps (channels last, heatmap scores after sigmoid) -> poses in model-input pixels, with this
        Predictor's decoding settings (multi- or single-pose, max poses, score threshold, NMS radius)."""
        c = self.config
        if c.multi_pose:
            return self.codec.decode(heat, offsets, fwd, bwd, c.max_poses, c.score_threshold, c.nms_radius)
        return [self.codec.decode_single(heat, offsets)]
