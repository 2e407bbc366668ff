"""Roboflow YOLOv8 keypoint export: data.yaml + ``<split>/images`` + ``<split>/labels/<stem>.txt``.

Label line per person: ``cls cx cy w h`` then K keypoints ``px py [v]``, normalised by the image size.
Keypoint names are not in data.yaml: they come from ``keypoint_names`` (the project's skeleton order),
else data.yaml ``kpt_names``, else COCO order; ``flip_idx`` must agree with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posenet.constants import COCO_PART_NAMES
from posenet.data.canonical import empty_keypoints
from posenet.data.parts import flip_index, keypoint_index
from posenet.data.records import Export, ImageRecord, Person, has_keypoints
from posenet.data.yolo import class_id, class_names, images_with_labels, load_data_yaml, read_label_rows
from posenet.errors import AnnotationError

def _keypoint_shape(data: dict[str, Any], yaml_path: Path) -> tuple[int, int]:
    shape = data.get("kpt_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
            and shape[0] > 0 and shape[1] in (2, 3)):
        raise AnnotationError(f"{yaml_path}: kpt_shape must be [K, 2] or [K, 3], got {shape!r}")
    return shape[0], shape[1]


def _keypoint_names(data: dict[str, Any], configured: Sequence[str], k: int, yaml_path: Path) -> tuple[list[str], str]:
    if configured:
        return list(configured), "data.keypoint_names"
    names = data.get("kpt_names")
    if isinstance(names, dict) and names:
        names = next(iter(names.values()))
    if isinstance(names, list) and names:
        return [str(n) for n in names], f"{yaml_path}: kpt_names"
    if k == len(COCO_PART_NAMES):
        return list(COCO_PART_NAMES), "COCO order (default)"
    raise AnnotationError(f"{yaml_path}: {k} keypoints and no names; set data.keypoint_names to the project's keypoint order")


def read_roboflow_yolov8(root: str | Path, keypoint_names: Sequence[str] = (), unknown_labels: str = "error") -> Export:
    """Parse a YOLOv8 keypoint export. ``keypoint_names``: the project's keypoint order (K names)."""
    root = Path(root)
    data = load_data_yaml(root)
    yaml_path = root / "data.yaml"
    k, dims = _keypoint_shape(data, yaml_path)
    names, origin = _keypoint_names(data, keypoint_names, k, yaml_path)
    if len(names) != k:
        raise AnnotationError(f"{origin}: {len(names)} keypoint names but data.yaml kpt_shape has {k} keypoints")
    mapping = [keypoint_index(name, f"{origin}[{i}]", unknown_labels) for i, name in enumerate(names)]
    mapping_arr = np.array(mapping, dtype=np.int64)
    flip = data.get("flip_idx")
    if flip is not None and min(mapping) >= 0 and list(flip) != flip_index(mapping):
        raise AnnotationError(f"{yaml_path}: flip_idx {list(flip)} does not fit the keypoint order {names} ({origin}); "
                              "set data.keypoint_names to the project's keypoint order")
    n_classes = len(class_names(data, root))
    records = []
    images, skipped = images_with_labels(root, data)
    for image, rel, label, size in images:
        scale = np.array(size, dtype=np.float64)
        persons = []
        for line, row in read_label_rows(label, 5 + k * dims):
            class_id(row[0], n_classes, f"{label}:{line}")
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
        records.append(ImageRecord(path=image, rel=rel, name=image.name, width=size[0], height=size[1], persons=persons))
    return Export(format="roboflow_yolov8", root=root, images=records, skipped=skipped)
