"""YOLOv8 keypoint export (Roboflow, Ultralytics, CVAT): data.yaml + images + ``labels/<stem>.txt`` per image.

Label line per person: ``cls cx cy w h`` then K keypoints ``px py [v]``, normalised by the image size; with
``kpt_shape [K, 2]`` (no visibility) a point at (0, 0) is unlabelled. Keypoint names are not in data.yaml: they
come from ``keypoint_names`` (the project's skeleton order), else data.yaml ``kpt_names``, else COCO order when
K = 17. ``flip_idx`` is an augmentation hint, not a naming (Roboflow writes the identity): a ``flip_idx`` that does
not pair left and right in that order is only warned about. Folder layouts: see ``posenet.data.yolo``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posenet.constants import COCO_PART_NAMES
from posenet.data.canonical import empty_keypoints
from posenet.data.category import Category, select_categories
from posenet.data.parts import LabelPolicy, flip_index
from posenet.data.records import Export, ImageRecord, Person, has_keypoints
from posenet.data.yolo import class_id, class_names, images_with_labels, label_coverage, load_data_yaml, read_label_rows
from posenet.errors import AnnotationError

__all__ = ["read_roboflow_yolov8"]

log = logging.getLogger(__name__)


def _keypoint_shape(data: dict[str, Any], yaml_path: Path) -> tuple[int, int]:
    shape = data.get("kpt_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
            and shape[0] > 0 and shape[1] in (2, 3)):
        raise AnnotationError(f"{yaml_path}: kpt_shape must be [K, 2] or [K, 3], got {shape!r}")
    return shape[0], shape[1]


def _keypoint_names(data: dict[str, Any], configured: Sequence[str], k: int, classes: list[str],
                    yaml_path: Path) -> tuple[list[str], str]:
    if configured:
        return list(configured), "data.keypoint_names"
    names = data.get("kpt_names")
    if isinstance(names, dict) and names:
        names = next(iter(names.values()))
    if isinstance(names, list) and names:
        return [str(n) for n in names], f"{yaml_path}: kpt_names"
    if k == len(COCO_PART_NAMES):
        return list(COCO_PART_NAMES), "COCO order (default)"
    raise AnnotationError(f"{yaml_path}: {k} keypoints without names (classes {classes}); only 17-keypoint COCO "
                          f"persons are read: if these are persons, set data.keypoint_names to the {k} names in label "
                          "order")


def _check_flip(flip: Any, mapping: list[int], names: list[str], origin: str, yaml_path: Path) -> None:
    """Warn when ``flip_idx`` does not pair left/right in the keypoint order (identity: Roboflow's default)."""
    if not isinstance(flip, list) or min(mapping) < 0 or flip == flip_index(mapping):
        return
    if flip == list(range(len(mapping))):
        log.info("%s: identity flip_idx (Roboflow writes it for every project): no left/right check", yaml_path)
    else:
        log.warning("%s: flip_idx %s does not pair left and right in the keypoint order %s (%s); if the label "
                    "lines use another order, set data.keypoint_names", yaml_path, flip, names, origin)


def read_roboflow_yolov8(root: str | Path, keypoint_names: Sequence[str] = (), labels: LabelPolicy | None = None,
                         category: str = "") -> Export:
    """Parse a YOLOv8 keypoint export (its folder or its YAML file).

    keypoint_names: the project's keypoint order (K names). category: ``data.category``, the class to read (name or
    id; empty: the person class, or the only class when its keypoints are COCO parts).
    """
    labels = labels or LabelPolicy()
    root, yaml_path, data = load_data_yaml(Path(root))
    k, dims = _keypoint_shape(data, yaml_path)
    classes = class_names(data, yaml_path)
    names, origin = _keypoint_names(data, keypoint_names, k, classes, yaml_path)
    if len(names) != k:
        raise AnnotationError(f"{origin}: {len(names)} keypoint names but data.yaml kpt_shape has {k} keypoints")
    mapping = [labels.index(name, f"{origin}[{i}]") for i, name in enumerate(names)]
    mapping_arr = np.array(mapping, dtype=np.int64)
    _check_flip(data.get("flip_idx"), mapping, names, origin, yaml_path)
    chosen = {c.id for c in select_categories([Category(i, name, names) for i, name in enumerate(classes)],
                                              category, labels, str(yaml_path))}
    records = []
    images, skipped = images_with_labels(root, yaml_path, data)
    lines = 0
    for image, rel, label, size, split in images:
        scale = np.array(size, dtype=np.float64)
        persons = []
        for line, row in read_label_rows(label, 5 + k * dims):
            lines += 1
            if class_id(row[0], len(classes), f"{label}:{line}") not in chosen:
                continue
            kps = row[5:].reshape(k, dims)
            vis = kps[:, 2] if dims == 3 else np.where((kps[:, :2] != 0).any(axis=1), 2.0, 0.0)
            if not np.isin(vis, (0, 1, 2)).all():
                raise AnnotationError(f"{label}:{line}: keypoint visibility must be 0, 1 or 2")
            keypoints = empty_keypoints()
            keep = (mapping_arr >= 0) & (vis > 0)
            keypoints[mapping_arr[keep], :2] = kps[keep, :2] * scale
            keypoints[mapping_arr[keep], 2] = vis[keep]
            cx, cy, w, h = row[1:5] * np.tile(scale, 2)
            if has_keypoints(keypoints):
                persons.append(Person(keypoints=keypoints, bbox=(cx - w / 2, cy - h / 2, w, h)))
        records.append(ImageRecord(path=image, rel=rel, name=image.name, width=size[0], height=size[1],
                                   persons=persons, split=split))
    found = f"{label_coverage(images, lines)} (read class {', '.join(repr(classes[c]) for c in sorted(chosen))})"
    return Export(format="roboflow_yolov8", root=root, images=records, skipped=skipped, found=found)
