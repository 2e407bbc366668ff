"""Counts of a canonical dataset: images, persons, visible / labelled keypoints per part."""

from __future__ import annotations

from typing import Any

import numpy as np

from posenet.constants import COCO_PART_NAMES

__all__ = ["summarise"]


def summarise(coco: dict[str, Any]) -> dict[str, Any]:
    """{"images", "images_without_persons", "persons", "keypoints_labelled", "keypoints_visible",
    "visible_per_part" {name: n}, "labelled_per_part" {name: n}} of one canonical COCO dict."""
    kps = np.array([a["keypoints"] for a in coco["annotations"]], dtype=np.float64).reshape(-1, len(COCO_PART_NAMES), 3)
    v = kps[:, :, 2]
    with_persons = {a["image_id"] for a in coco["annotations"]}
    return {
        "images": len(coco["images"]),
        "images_without_persons": sum(img["id"] not in with_persons for img in coco["images"]),
        "persons": len(coco["annotations"]),
        "keypoints_labelled": int((v > 0).sum()),
        "keypoints_visible": int((v == 2).sum()),
        "visible_per_part": {name: int(n) for name, n in zip(COCO_PART_NAMES, (v == 2).sum(axis=0))},
        "labelled_per_part": {name: int(n) for name, n in zip(COCO_PART_NAMES, (v > 0).sum(axis=0))},
    }
