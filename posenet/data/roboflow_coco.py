"""Roboflow COCO keypoint export: ``<root>/{train,valid,test}/_annotations.coco.json`` beside each split's images
(the folder names the export's split of its images)."""

from __future__ import annotations

from pathlib import Path

from posenet.data.coco import parse_coco_json
from posenet.data.parts import LabelPolicy
from posenet.data.records import Export, merge_exports
from posenet.data.split import split_of_folder
from posenet.errors import AnnotationError

__all__ = ["ANNOTATION_FILE", "read_roboflow_coco"]

ANNOTATION_FILE = "_annotations.coco.json"


def read_roboflow_coco(root: str | Path, labels: LabelPolicy | None = None, category: str = "") -> Export:
    """Parse every split of a Roboflow COCO export (missing splits are fine; at least one must exist).

    category: ``data.category`` (name or id of the category to read; empty: the person category)."""
    root = Path(root)
    json_files = sorted(root.rglob(ANNOTATION_FILE))
    if not json_files:
        raise AnnotationError(f"{root}: no {ANNOTATION_FILE} found (expected <split>/{ANNOTATION_FILE})")
    parts = []
    for path in json_files:
        prefix = "" if path.parent == root else path.parent.relative_to(root).as_posix() + "/"
        parts.append(parse_coco_json(path, [path.parent], prefix, labels, category))
        parts[-1].found = prefix + parts[-1].found
        split = split_of_folder(path.parent.relative_to(root).parts[0]) if path.parent != root else ""
        for record in parts[-1].images:
            record.split = split
    return merge_exports("roboflow_coco", root, parts)
