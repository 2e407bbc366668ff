"""Keypoint label names of every platform -> COCO keypoint index (annotation-formats.md section 4.2)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from posenet.constants import COCO_PART_NAMES
from posenet.errors import AnnotationError

__all__ = ["COCO_INDEX", "PERSON_LABELS", "LabelPolicy", "flip_index", "is_person_label", "label_coco_index",
           "normalise_part_name"]

log = logging.getLogger(__name__)

COCO_INDEX: dict[str, int] = {name: i for i, name in enumerate(COCO_PART_NAMES)}
PERSON_LABELS: frozenset[str] = frozenset({"person", "persons", "people", "human", "humans", "body", "pose"})

_LEADING_NUMBER = re.compile(r"^\d+-")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # leftEye, RShoulder (OpenPose)
_SEPARATORS = re.compile(r"[\s\-_]+")
_SIDES = {"l": "left", "r": "right", "left": "left", "right": "right"}


def normalise_part_name(label: str) -> str:
    """``'Left Eye'``, ``'left-eye'``, ``'leftEye'``, ``'1-leftEye'``, ``'LEye'``, ``'L_Eye'``, ``'eye_left'`` ->
    ``'left_eye'``; any other label comes back lower-case with ``_`` separators (``'MidHip'`` -> ``'mid_hip'``)."""
    name = _LEADING_NUMBER.sub("", label.strip())
    words = [w for w in _SEPARATORS.split(_CAMEL.sub("_", name).lower()) if w]
    if len(words) >= 2 and words[0] in _SIDES:
        words[0] = _SIDES[words[0]]
    elif len(words) >= 2 and words[-1] in _SIDES:  # suffix style: shoulder_left, eye_r
        words = [_SIDES[words[-1]], *words[:-1]]
    return "_".join(words)


def is_person_label(label: str) -> bool:
    """True for a category / class / pose label that names a person (``person``, ``Human``, ``people``, ...)."""
    return normalise_part_name(label) in PERSON_LABELS


def label_coco_index(label: str, where: str) -> int | None:
    """COCO index of a keypoint label. ``None`` for a person label (a legacy ``17-person`` box).

    Raises ``AnnotationError`` naming ``where`` (file and field) for an unknown label.
    """
    name = normalise_part_name(label)
    if name in COCO_INDEX:
        return COCO_INDEX[name]
    if name in PERSON_LABELS:
        return None
    raise AnnotationError(f"{where}: unknown keypoint label {label!r} (expected one of {', '.join(COCO_PART_NAMES)}; "
                          "list extra points in data.ignore_labels or set data.unknown_labels: ignore)")


@dataclass
class _Seen:
    count: int
    first: str


class LabelPolicy:
    """Label -> COCO index for one export, with its rules for labels that name no COCO part.

    unknown_labels: ``error`` (AnnotationError naming the file and field) or ``ignore`` (the point is left out).
    ignore_labels: extra points to leave out in either mode (``head``, ``neck``, ``MidHip``, ...; compared after
    normalisation). Left-out labels are counted; ``report`` logs one line per label, however often it occurred.
    """

    def __init__(self, unknown_labels: str = "error", ignore_labels: Iterable[str] = ()) -> None:
        self.unknown_labels = unknown_labels
        self.ignore_labels = frozenset(normalise_part_name(label) for label in ignore_labels)
        self.left_out: dict[str, _Seen] = {}

    def index(self, label: str, where: str, person_ok: bool = False) -> int | None:
        """COCO index of ``label``; -1 for a label left out; ``None`` for a person label when ``person_ok``
        (a legacy person box), else a person label is an error (it names no keypoint)."""
        if normalise_part_name(label) in self.ignore_labels:
            return self._leave_out(label, where)
        try:
            idx = label_coco_index(label, where)
            if idx is None and not person_ok:
                raise AnnotationError(f"{where}: {label!r} is a person label, not a keypoint")
        except AnnotationError:
            if self.unknown_labels != "ignore":
                raise
            return self._leave_out(label, where)
        return idx

    def names_coco_parts(self, labels: Iterable[str]) -> bool:
        """True when every label is a COCO part or listed in ``ignore_labels`` (a person skeleton, by its names)."""
        names = [normalise_part_name(str(label)) for label in labels]
        return bool(names) and all(n in COCO_INDEX or n in self.ignore_labels for n in names)

    def _leave_out(self, label: str, where: str) -> int:
        seen = self.left_out.setdefault(label, _Seen(0, where))
        seen.count += 1
        return -1

    def report(self) -> None:
        """One log line per left-out label: a warning for an unknown one, info for one in ``ignore_labels``."""
        for label, seen in self.left_out.items():
            listed = normalise_part_name(label) in self.ignore_labels
            log.log(logging.INFO if listed else logging.WARNING,
                    "%s keypoint label %r left out %d time(s) (first at %s)",
                    "listed" if listed else "unknown", label, seen.count, seen.first)


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
