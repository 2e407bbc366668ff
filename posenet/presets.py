"""Named Predictor settings over params ``predict`` (README "Speed and accuracy"; chosen on coco_val200).

``tfjs``: the params as they are, TF.js PoseNet 2.2.2 exactly (the parity reference). The others decode up to 20
poses (COCO AP's per-image limit, room for crowds) from part candidates down to score 0.2. ``fast`` runs one input
of 1.44x the pixels (609 for 513) on the fused backend (~1.6x faster than eager with the same outputs), so it costs
about what ``tfjs`` costs on eager; ``accurate`` fuses two larger inputs and their mirrored copies
(posenet.tta). Scales multiply ``predict.input_size``.
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
