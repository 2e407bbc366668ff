"""Deterministic, seeded train/val split of a canonical COCO dict (by image)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["split_coco"]


def split_coco(coco: dict[str, Any], val_fraction: float, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split by image: ``round(val_fraction * n)`` images (at least 1 when val_fraction > 0 and n >= 2) go to val.

    The permutation is drawn with ``numpy.random.default_rng(seed)`` over the images sorted by file name, so
    the result depends only on the file names, the fraction and the seed. Ids are kept.
    """
    names = sorted(img["file_name"] for img in coco["images"])
    n = len(names)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val_names = {names[i] for i in order[:n_val]}
    return (_subset(coco, lambda img: img["file_name"] not in val_names),
            _subset(coco, lambda img: img["file_name"] in val_names))


def _subset(coco: dict[str, Any], keep) -> dict[str, Any]:
    images = [img for img in coco["images"] if keep(img)]
    ids = {img["id"] for img in images}
    out = {k: copy.deepcopy(v) for k, v in coco.items() if k not in ("images", "annotations")}
    out["images"] = copy.deepcopy(images)
    out["annotations"] = [copy.deepcopy(a) for a in coco["annotations"] if a["image_id"] in ids]
    return out
