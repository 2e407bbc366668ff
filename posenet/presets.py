"""Named Predictor settings over params ``predict`` (README "Speed and accuracy"; chosen on coco_val200).

``tfjs``: the params as they are, TF.js PoseNet 2.2.2 exactly (the parity reference). The others decode up to 20
poses (COCO AP's per-image limit, room for crowds) from part candidates down to score 0.2. ``fast`` runs one input
of 1.41x the pixels (609 for 513) on the fused backend (about 2x faster than eager, same outputs), so it is both
more accurate and faster than ``tfjs`` on eager (benchmark stage: 1.5x); ``accurate`` fuses two larger inputs and
their mirrored copies (posenet.tta). Scales multiply ``predict.input_size``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "PRESET_NAMES"]

PRESETS: dict[str, dict[str, Any]] = {
    "tfjs": {},
    "fast": {"scales": (1.2,), "max_poses": 20, "score_threshold": 0.2, "backend": "fused"},
    "accurate": {"scales": (1.5, 2.0), "flip": True, "max_poses": 20, "score_threshold": 0.2},
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
