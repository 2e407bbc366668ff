"""Legacy Roboflow object-detection export with one small box per body part (the original project's layout).

Classes ``0-nose`` ... ``16-rightAnkle`` + ``17-person``; keypoint = box centre; one person per image;
no visibility (present -> 2). Class ids index data.yaml ``names`` (string-sorted by Roboflow).
"""

from __future__ import annotations

import logging
from pathlib import Path

from posenet.data.canonical import empty_keypoints
from posenet.data.parts import LabelPolicy
from posenet.data.records import Export, ImageRecord, Person, has_keypoints
from posenet.data.yolo import class_id, class_names, images_with_labels, label_coverage, load_data_yaml, read_label_rows

__all__ = ["LEGACY_CLASS_NAMES", "PERSON_BOX", "read_roboflow_legacy"]

log = logging.getLogger(__name__)

# The original project's hard-coded id order (string-sorted names), used when data.yaml is absent.
LEGACY_CLASS_NAMES: tuple[str, ...] = tuple(sorted(
    ["0-nose", "1-leftEye", "2-rightEye", "3-leftEar", "4-rightEar", "5-leftShoulder", "6-rightShoulder",
     "7-leftElbow", "8-rightElbow", "9-leftWrist", "10-rightWrist", "11-leftHip", "12-rightHip", "13-leftKnee",
     "14-rightKnee", "15-leftAnkle", "16-rightAnkle", "17-person"]))

PERSON_BOX = -2  # class of the person box in the class -> part table


def read_roboflow_legacy(root: str | Path, labels: LabelPolicy | None = None) -> Export:
    """Parse a one-box-per-part export (data.yaml optional; then the original's sorted class list is assumed)."""
    labels = labels or LabelPolicy()
    root, yaml_path, data = load_data_yaml(Path(root), required=False)
    if yaml_path is None:
        log.warning("%s: no data.yaml; assuming the original project's class order %s", root, list(LEGACY_CLASS_NAMES))
        names, origin = list(LEGACY_CLASS_NAMES), "legacy class list"
    else:
        names, origin = class_names(data, yaml_path), f"{yaml_path}: names"
    parts = [labels.index(name, f"{origin}[{i}]", person_ok=True) for i, name in enumerate(names)]
    parts = [PERSON_BOX if idx is None else idx for idx in parts]
    records = []
    images, skipped = images_with_labels(root, yaml_path, data)
    lines = 0
    for image, rel, label, (width, height), split in images:
        keypoints, bbox = empty_keypoints(), None
        for line, (cls, cx, cy, w, h) in read_label_rows(label, 5):
            lines += 1
            part = parts[class_id(cls, len(names), f"{label}:{line}")]
            if part == PERSON_BOX:
                bbox = ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)
            elif part >= 0:
                if keypoints[part, 2] > 0:
                    log.warning("%s:%d: %s labelled twice; keeping the later line", label, line, names[int(cls)])
                keypoints[part] = (cx * width, cy * height, 2)
        persons = [Person(keypoints=keypoints, bbox=bbox)] if has_keypoints(keypoints) else []
        records.append(ImageRecord(path=image, rel=rel, name=image.name, width=width, height=height, persons=persons,
                                   split=split))
    return Export(format="roboflow_legacy", root=root, images=records, skipped=skipped,
                  found=label_coverage(images, lines))
