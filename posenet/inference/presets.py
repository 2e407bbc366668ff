"""Named Predictor settings over params ``predict`` (speed and AP: docs/benchmarks.md, "Speed and accuracy per preset").

``tfjs``: the params as they are, TF.js PoseNet 2.2.2 exactly (the parity reference). The others decode up to 20
poses (COCO AP's per-image limit) from part candidates down to score 0.2, and decode image files at a reduced
JPEG scale where the input is much smaller than the photo (``reduced_decode``). ``fast`` runs one input of 1.2x the side
on the fused backend (same outputs as eager); ``accurate`` fuses two larger inputs and their mirrored copies
(posenet.inference.tta). Scales multiply ``predict.input_size``. The names are ``constants.PRESET_NAMES``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

PRESETS: dict[str, dict[str, Any]] = {
    "tfjs": {},
    "fast": {"scales": (1.2,), "max_poses": 20, "score_threshold": 0.2, "backend": "fused",
             "reduced_decode": True},
    "accurate": {"scales": (1.5, 2.0), "flip": True, "max_poses": 20, "score_threshold": 0.2,
                 "reduced_decode": True},
}
