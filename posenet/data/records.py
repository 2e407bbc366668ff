"""What every export reader returns: images with persons, before the canonical COCO dict is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Export", "ImageRecord", "Person", "has_keypoints"]


@dataclass
class Person:
    """One person. ``keypoints``: float64 [17, 3] (x, y, v) in COCO order, pixels of the displayed image,
    v 0 missing (x = y = 0) / 1 labelled not visible / 2 visible. ``bbox`` [x, y, w, h] px and ``area`` px²
    when the export carries them (otherwise derived from the keypoints)."""

    keypoints: np.ndarray
    bbox: tuple[float, float, float, float] | None = None
    area: float | None = None


@dataclass
class ImageRecord:
    """One image of an export. ``rel``: its path relative to the export root (posix, NFC), unique there;
    ``name``: the file name it should get in the canonical image folder (made unique later).
    ``width``/``height``: size as displayed (EXIF orientation applied), pixels; ``split``: the export's split of
    the image (``"train"``, ``"val"``, ``"test"``; ``""``: the export does not say)."""

    path: Path
    rel: str
    name: str
    width: int
    height: int
    persons: list[Person] = field(default_factory=list)
    split: str = ""


# Why annotations were left out: keys of ``Export.dropped`` (readers), of the counts ``canonical.to_coco`` returns,
# and of ``dropped`` in reports/data_summary.json.
UNKNOWN_CATEGORY = "annotations_of_unknown_category"  # category_id is the id of no category
KEYPOINTS_OUTSIDE = "keypoints_outside_image"  # labelled points beyond data.outside_tolerance px outside the image
PERSONS_OUTSIDE = "persons_outside_image"  # persons left without any keypoint inside the image
DROPPED_REASONS: tuple[str, ...] = (UNKNOWN_CATEGORY, KEYPOINTS_OUTSIDE, PERSONS_OUTSIDE)


@dataclass
class Export:
    """A parsed export. ``skipped``: items left out with a warning (missing or unreadable image, ...);
    ``found``: what the reader saw (label files, annotations), named in the error when no person is left;
    ``dropped``: annotations the reader left out, counted by reason (e.g. ``UNKNOWN_CATEGORY``)."""

    format: str
    root: Path
    images: list[ImageRecord]
    skipped: int = 0
    found: str = ""
    dropped: dict[str, int] = field(default_factory=dict)


def merge_exports(fmt: str, root: Path, parts: list[Export]) -> Export:
    """One export of several parsed parts (e.g. the splits of a Roboflow export): images in order, counts summed."""
    dropped: dict[str, int] = {}
    for part in parts:
        for reason, count in part.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
    return Export(format=fmt, root=root, images=[image for part in parts for image in part.images],
                  skipped=sum(part.skipped for part in parts), found="; ".join(part.found for part in parts),
                  dropped=dropped)


def has_keypoints(keypoints: np.ndarray) -> bool:
    """True when at least one of the [17, 3] keypoints is labelled (v > 0)."""
    return bool((keypoints[:, 2] > 0).any())
