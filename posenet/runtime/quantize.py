"""Static int8 post-training quantisation of the ONNX PoseNet, calibrated on real photos (ONNX Runtime, QDQ).

Weights int8 per output channel, activations uint8 with ranges (min/max) observed on the calibration photos,
letterboxed and normalised exactly as the Predictor does it. The four 1x1 heads stay float32: they cost little
and the offsets / displacements they emit are in pixels, where an 8-bit grid of a +-100 px range would move
keypoints by a pixel. So do the first two convs, which are faster in float32 (:func:`float32_nodes`). On a CPU
with AVX512-VNNI ONNX Runtime runs the quantised convs as u8s8 VNNI kernels.

Weights use 7 of their 8 bits (``reduce_range``): without VNNI (AVX2 only), ONNX Runtime's u8s8 kernels add
pairs of uint8 x int8 products in 16 bits, which full 8-bit weights can overflow; ONNX Runtime advises the
reduced range there. On such a CPU it raises the ``accurate`` preset from 0.402 to 0.417 AP on COCO val2017
images where float32 scores 0.424 (square inputs; docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from posenet.codec.letterbox import prepare_input, to_batch
from posenet.constants import DEFAULT_CALIBRATION
from posenet.errors import BackendError
from posenet.io.atomic import write_bytes_atomic
from posenet.io.media import expand_inputs, is_video, read_image
from posenet.models.mobilenet import PoseNet
from posenet.project import find_project
from posenet.runtime.onnx import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES, onnx_bytes, require
from posenet.weights.sources import cache_dir

__all__ = ["CALIBRATION_IMAGES", "calibration_batches", "calibration_paths", "float32_nodes", "int8_cache_key",
           "quantize_onnx", "quantized_int8"]

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 16
_CACHE: dict[tuple[Any, ...], bytes] = {}
# what quantize_onnx does, part of the cache key: a change of recipe must not load models made by the old one
RECIPE = "qdq u8s8 per-channel reduce-range minmax; float32: stem conv, first depthwise conv, heads"


# Where the default calibration folder (the pipeline's sample photos) is not there, outside a project or in one
# without the sample, the photo bundled with the package calibrates instead.
BUNDLED_CALIBRATION = Path(__file__).resolve().parents[1] / "assets"


def calibration_paths(folder: str | os.PathLike, count: int = CALIBRATION_IMAGES) -> list[Path]:
    """The first ``count`` photos (sorted) of ``folder`` (a relative one is in the project: params
    ``predict.calibration``, wherever in it the command runs; outside any project, in the working directory). The
    default folder falls back to the photo bundled with posenet where it is missing (int8 is the fast and accurate
    presets' backend: they must run anywhere); any other missing or empty folder is a BackendError."""
    project = find_project()
    resolved = Path(folder) if Path(folder).is_absolute() else (project or Path.cwd()) / folder
    default = Path(DEFAULT_CALIBRATION).parts
    if Path(folder).parts[-len(default):] == default and not resolved.is_dir():  # as given, or under a project root
        log.warning("int8 calibration: %s is not there, calibrating on the photo bundled with posenet (set "
                    "predict.calibration to a folder of your own photos for better int8 ranges)", resolved)
        resolved = BUNDLED_CALIBRATION
    if not resolved.is_dir():
        raise BackendError(f"int8 calibration: {resolved} is not a folder of photos (set predict.calibration)")
    paths = sorted(p for p in expand_inputs([resolved]) if not is_video(p))[:count]
    if not paths:
        raise BackendError(f"int8 calibration: no photos in {resolved}")
    return paths


def calibration_batches(paths: list[Path], input_hw: tuple[int, int]) -> Iterator[np.ndarray]:
    """Each photo as a model input [1, 3, Rh, Rw] float32 in [-1, 1] (the Predictor's preprocessing)."""
    for path in paths:
        yield to_batch([prepare_input(read_image(path), input_hw)[0]]).numpy()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantiser logs a line per adjusted weight scale on the root logger: keep them out."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(model: bytes, batches: Iterator[np.ndarray]) -> bytes:
    """Float32 ONNX PoseNet -> static int8 QDQ model (heads left float32), calibrated on ``batches``."""
    require("onnxruntime", "int8 quantisation")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx = require("onnx", "int8 quantisation")

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory(prefix="posenet-int8-") as tmp:
        fp32, prepared, int8 = (Path(tmp) / name for name in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        fp32.write_bytes(model)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        with _quiet_root_logger():
            quantize_static(str(prepared), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=float32_nodes(onnx.load(str(prepared)).graph),
                            calibrate_method=CalibrationMethod.MinMax)
        return int8.read_bytes()


def float32_nodes(graph: Any) -> list[str]:
    """The nodes of an ONNX PoseNet ``graph`` that stay float32: the four heads (pixel-valued outputs), and the
    stem conv, its ReLU6 and the first depthwise conv. Those two run at full resolution on 3 and 24 channels,
    where ONNX Runtime's int8 kernels are slower than its float ones (2 ms of 31 at 625 x 417 on an AVX2 CPU)."""
    nodes = list(graph.node)
    first_depthwise = [i for i, n in enumerate(nodes) if n.op_type == "Conv"][1]
    return [n.name for n in nodes[:first_depthwise + 1]] + [n.name for n in nodes if set(n.output) & set(OUTPUT_NAMES)]


def quantized_int8(model: PoseNet, calibration: str | os.PathLike | None = None,
                   input_hw: tuple[int, int] = (513, 513), count: int = CALIBRATION_IMAGES,
                   opset: int = DEFAULT_OPSET) -> bytes:
    """``model`` exported (ONNX ``opset``) and quantised to int8 on ``count`` photos of ``calibration`` at ``input_hw``.

    Quantising takes seconds, so the result is kept in the user cache (``$POSENET_CACHE/int8/<key>.onnx``) and in
    memory, keyed by :func:`int8_cache_key`: later runs and processes load it.
    """
    paths = calibration_paths(calibration if calibration is not None else DEFAULT_CALIBRATION, count)
    key = int8_cache_key(model, paths, input_hw, opset)
    if key not in _CACHE:
        cached = cache_dir() / "int8" / f"{key}.onnx"
        if cached.is_file():
            log.info("int8 %s (stride %d): %s", model.variant, model.output_stride, cached)
            _CACHE[key] = cached.read_bytes()
        else:
            log.info("quantising %s (stride %d) to int8 on %d photos of %s (once: kept in %s)", model.variant,
                     model.output_stride, len(paths), paths[0].parent, cached.parent)
            _CACHE[key] = quantize_onnx(onnx_bytes(model, opset), calibration_batches(paths, tuple(input_hw)))
            write_bytes_atomic(cached, _CACHE[key])
    return _CACHE[key]


def int8_cache_key(model: PoseNet, paths: list[Path], input_hw: tuple[int, int], opset: int) -> str:
    """sha256 (hex) of all the quantised model depends on: the weights (sha256 of the state dict), variant and
    stride, the calibration photos (names and contents), the input size, the opset, the ONNX Runtime version and
    the :data:`RECIPE`."""
    onnxruntime = require("onnxruntime", "int8 quantisation")
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(repr((model.variant, int(model.output_stride), tuple(input_hw), opset,
                        onnxruntime.__version__, RECIPE)).encode())
    return digest.hexdigest()
