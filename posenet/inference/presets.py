"""Named Predictor settings over params ``predict`` (speed and AP: docs/benchmarks.md, "Speed and accuracy per preset").

``tfjs``: the params as they are, TF.js PoseNet 2.2.2 exactly (the parity reference). The others decode up to 20
poses (COCO AP's per-image limit) from part candidates down to score 0.2, cut each input to the image's aspect ratio
instead of a square letterbox (``fit_aspect``), decode image files at a reduced JPEG scale where the input is much
smaller than the photo (``reduced_decode``), and run on the int8 backend (on a GPU, or without the ``[onnx]``
extra: fused, posenet.inference.config.runnable_preset_backend). ``fast`` runs one input of 1.22x the side (625 px
at 513), resized by OpenCV (``opencv_resize``); ``accurate`` fuses two larger inputs and their mirrored copies
(posenet.inference.tta), resized exactly as TF.js does: on int8, OpenCV's resize costs it 0.003 AP on COCO val2017
for 1 % of its time. Scales multiply ``predict.input_size``. The names are ``constants.PRESET_NAMES``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

_FASTER = {"max_poses": 20, "score_threshold": 0.2, "fit_aspect": True, "reduced_decode": True, "backend": "int8"}

PRESETS: dict[str, dict[str, Any]] = {
    "tfjs": {},
    "fast": {"scales": (1.22,), "opencv_resize": True, **_FASTER},
    "accurate": {"scales": (1.5, 2.0), "flip": True, **_FASTER},
}
