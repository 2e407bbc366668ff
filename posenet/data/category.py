"""Which categories (COCO categories, YOLO classes) of an export hold persons: ``data.category`` or the default.

Exports of animal, hand or multi-class skeletons must not turn into persons: the default is the categories named
like a person (``person``, ``human``, ``people``, ...), else the only keypoint category when every one of its
keypoint names is a COCO part; anything else is refused with the list of categories to choose from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from posenet.data.parts import LabelPolicy, is_person_label, normalise_part_name
from posenet.errors import AnnotationError

__all__ = ["Category", "select_categories"]


@dataclass(frozen=True)
class Category:
    """One keypoint category of an export: its id, name and keypoint names (in the export's order)."""

    id: Any
    name: str
    keypoints: Sequence[str]

    def describe(self) -> str:
        return f"{self.name!r} (id {self.id}, {len(self.keypoints)} keypoints)"


def select_categories(categories: Sequence[Category], wanted: str, labels: LabelPolicy, where: str) -> list[Category]:
    """The categories to read as persons. ``wanted``: ``data.category`` (a name or an id; empty: the default)."""
    listing = ", ".join(c.describe() for c in categories)
    if wanted:
        chosen = [c for c in categories
                  if str(c.id) == wanted.strip() or normalise_part_name(c.name) == normalise_part_name(wanted)]
        if not chosen:
            raise AnnotationError(f"{where}: data.category = {wanted!r} names no keypoint category (there: {listing})")
        return chosen
    chosen = [c for c in categories if is_person_label(c.name)]
    if not chosen and len(categories) == 1 and labels.names_coco_parts(categories[0].keypoints):
        chosen = list(categories)
    if not chosen:
        raise AnnotationError(f"{where}: no person keypoint category (there: {listing}); only 17-keypoint COCO persons "
                              "are read: set data.category to the category holding them")
    return chosen
