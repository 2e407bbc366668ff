"""One entry point for every export format."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from posenet.data.coco import read_coco
from posenet.data.dataloop import OCCLUDED_VALUES, read_dataloop
from posenet.data.parts import LabelPolicy
from posenet.data.records import Export
from posenet.data.roboflow_coco import read_roboflow_coco
from posenet.data.roboflow_legacy import read_roboflow_legacy
from posenet.data.roboflow_yolov8 import read_roboflow_yolov8
from posenet.errors import AnnotationError
from posenet.params import DATA_FORMATS

__all__ = ["read_export"]


def read_export(fmt: str, path: str | Path, *, images: str | Path | None = None, keypoint_names: Sequence[str] = (),
                occluded_values: Sequence[str] = OCCLUDED_VALUES, unknown_labels: str = "error",
                ignore_labels: Sequence[str] = (), category: str = "") -> Export:
    """Parse the export at ``path`` (a folder; for ``coco`` the JSON file, with ``images`` its image folder; for
    ``roboflow_yolov8`` / ``roboflow_legacy`` also the YAML file).

    unknown_labels / ignore_labels: see ``parts.LabelPolicy`` (one log line per left-out label at the end);
    category: the category / class / pose label holding the persons (empty: the person one).
    """
    path = Path(path)
    if not path.exists():
        raise AnnotationError(f"{path}: export not found (data.path)")
    labels = LabelPolicy(unknown_labels, ignore_labels)
    if fmt == "dataloop":
        export = read_dataloop(path, tuple(occluded_values), labels, category)
    elif fmt == "roboflow_coco":
        export = read_roboflow_coco(path, labels, category)
    elif fmt == "roboflow_yolov8":
        export = read_roboflow_yolov8(path, keypoint_names, labels, category)
    elif fmt == "roboflow_legacy":
        export = read_roboflow_legacy(path, labels)
    elif fmt == "coco":
        export = read_coco(path, images, labels, category)
    else:
        raise AnnotationError(f"unknown export format {fmt!r} (known: {', '.join(DATA_FORMATS)})")
    labels.report()
    if not export.images:
        raise AnnotationError(f"{path}: no usable image in this {fmt} export ({export.skipped} skipped)")
    return export
