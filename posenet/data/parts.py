"""Keypoint label names of every platform -> COCO keypoint index (annotation-formats.md section 4.2)."""

from __future__ import annotations

import logging
import re

from posenet.constants import COCO_PART_NAMES
from posenet.errors import AnnotationError

log = logging.getLogger(__name__)

COCO_INDEX: dict[str, int] = {name: i for i, name in enumerate(COCO_PART_NAMES)}
PERSON_LABELS: frozenset[str] = frozenset({"person", "human", "body", "pose"})

_LEADING_NUMBER = re.compile(r"^\d+-")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalise_part_name(label: str) -> str:
    """``'Left Eye'``, ``'left-eye'``, ``'leftEye'``, ``'1-leftEye'`` -> ``'left_eye'``."""
    name = _LEADING_NUMBER.sub("", label.strip())
    name = _CAMEL.sub("_", name)
    return _SEPARATORS.sub("_", name).lower()


def part_index(label: str, where: str) -> int | None:
    """COCO index of a keypoint label. ``None`` for a person label (a legacy ``17-person`` box).

    Raises ``AnnotationError`` naming ``where`` (file and field) for an unknown label.
    """
    name = normalise_part_name(label)
    if name in COCO_INDEX:
        return COCO_INDEX[name]
    if name in PERSON_LABELS:
        return None
    raise AnnotationError(f"{where}: unknown keypoint label {label!r} (expected one of {', '.join(COCO_PART_NAMES)})")


def keypoint_index(label: str, where: str, unknown_labels: str = "error") -> int:
    """COCO index of a keypoint label, -1 for a label left out (``unknown_labels="ignore"``: unknown labels are
    warned about and ignored). Raises ``AnnotationError`` naming ``where`` for an unknown label (policy ``error``)
    and for a person label, which names no keypoint."""
    try:
        idx = part_index(label, where)
        if idx is None:
            raise AnnotationError(f"{where}: {label!r} is a person label, not a keypoint")
    except AnnotationError as err:
        if unknown_labels != "ignore":
            raise
        log.warning("%s (keypoint ignored)", err)
        return -1
    return idx


def flip_index(indices: list[int]) -> list[int]:
    """Expected Ultralytics ``flip_idx`` for a keypoint list given by COCO indices (left <-> right)."""
    mirrored = [COCO_INDEX[_mirror(COCO_PART_NAMES[i])] for i in indices]
    position = {coco: k for k, coco in enumerate(indices)}
    return [position.get(m, k) for k, m in enumerate(mirrored)]


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name
