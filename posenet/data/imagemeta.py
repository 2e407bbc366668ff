"""Image size as displayed (EXIF orientation applied) and a cheap integrity check, without full decoding."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from posenet.errors import ImageError
from posenet.io.media import open_image

__all__ = ["EXIF_ORIENTATION_TAG", "displayed_size", "probe_image", "swaps_axes"]

log = logging.getLogger(__name__)

EXIF_ORIENTATION_TAG = 0x0112


def swaps_axes(orientation: object) -> bool:
    """EXIF orientations 5-8 rotate by 90 degrees: displayed width = stored height."""
    try:
        return int(orientation) in (5, 6, 7, 8)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def displayed_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) in pixels of the image as displayed (as ``cv2.imread`` returns it).

    Opened like every image read here (``posenet.io.media.open_image``) and decoded at reduced scale (JPEG draft
    mode), so a missing, truncated, corrupt or oversized file raises ``ImageError`` naming the file.
    """
    path = Path(path)
    with open_image(path) as img:
        width, height = img.size
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG)
        img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
        img.load()
    if swaps_axes(orientation):
        width, height = height, width
    return width, height


def probe_image(path: str | os.PathLike, declared: tuple[object, object] | None = None,
                where: str = "") -> tuple[int, int] | None:
    """``displayed_size`` or, for a missing / unreadable image, a warning and ``None`` (caller skips the item).

    declared: (width, height) an annotation file gives for the image (either missing/0: none given); when it
    differs from the displayed size, a warning naming ``where`` says so and the displayed size wins.
    """
    try:
        size = displayed_size(path)
    except ImageError as err:
        log.warning("skipping item: %s", err)
        return None
    if declared is not None and all(declared) and _pixels(declared) != size:
        log.warning("%s: says %sx%s but %s is %dx%d as displayed; using the image", where, *declared, path, *size)
    return size


def _pixels(declared: tuple[object, object]) -> tuple[int, int] | None:
    try:
        return int(declared[0]), int(declared[1])  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
