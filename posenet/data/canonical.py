"""The canonical COCO-keypoints dataset: parsed export -> canonical dict (+ the image files to copy), and
a written split read back (``load_split``).

Canonical annotation: ``keypoints`` 17*3 flat [x, y, v] in pixels of the displayed image, COCO v 0/1/2,
``bbox`` [x, y, w, h], ``area``, ``num_keypoints`` (v > 0), ``iscrowd`` 0, ``category_id`` 1.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from posenet.constants import COCO_PART_NAMES, NUM_KEYPOINTS, SKELETON
from posenet.data.fields import check_id, check_numbers, check_record
from posenet.data.files import load_json, nfc
from posenet.data.records import KEYPOINTS_OUTSIDE, PERSONS_OUTSIDE, Export, ImageRecord, Person
from posenet.errors import AnnotationError, TrainingError
from posenet.io.atomic import UniqueNames

__all__ = ["PERSON_CATEGORY", "empty_keypoints", "flat_file_name", "keypoint_bbox", "load_split", "sanitise_keypoints",
           "to_coco"]

log = logging.getLogger(__name__)

PERSON_CATEGORY: dict[str, Any] = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(COCO_PART_NAMES),
    "skeleton": [[a + 1, b + 1] for a, b in SKELETON],  # COCO JSON skeletons are 1-based
}


def empty_keypoints() -> np.ndarray:
    """[17, 3] float64 of missing keypoints (0, 0, 0)."""
    return np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)


def sanitise_keypoints(keypoints: np.ndarray, width: int, height: int, tolerance: float = 0.0) -> np.ndarray:
    """Clamp points within ``tolerance`` px outside the image onto it; points further out -> missing.

    keypoints: [17, 3] (x, y, v); returns a new array with missing points set to (0, 0, 0).
    """
    kp = np.array(keypoints, dtype=np.float64)
    x, y = kp[:, 0], kp[:, 1]
    inside = (x >= -tolerance) & (x <= width + tolerance) & (y >= -tolerance) & (y <= height + tolerance)
    labelled = (kp[:, 2] > 0) & inside
    kp[:, 0] = np.clip(x, 0, width)
    kp[:, 1] = np.clip(y, 0, height)
    kp[~labelled] = 0.0
    return kp


def keypoint_bbox(keypoints: np.ndarray) -> tuple[float, float, float, float]:
    """Tight [x, y, w, h] around the labelled (v > 0) keypoints; zeros when none is labelled."""
    pts = keypoints[keypoints[:, 2] > 0, :2]
    if len(pts) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def flat_file_name(rel: str) -> str:
    """``'outdoor/läufer_003.jpg'`` -> ``'outdoor__läufer_003.jpg'`` (NFC): one flat folder of images."""
    return nfc(rel).replace("\\", "/").strip("/").replace("/", "__")


def _annotation(person: Person, ann_id: int, image: ImageRecord, tolerance: float) -> dict[str, Any] | None:
    kp = sanitise_keypoints(person.keypoints, image.width, image.height, tolerance)
    num = int((kp[:, 2] > 0).sum())
    if num == 0:
        return None
    bbox = person.bbox if person.bbox is not None and person.bbox[2] > 0 and person.bbox[3] > 0 else keypoint_bbox(kp)
    area = person.area if person.area is not None and person.area > 0 else bbox[2] * bbox[3]
    return {
        "id": ann_id,
        "image_id": 0,  # set by the caller
        "category_id": 1,
        "keypoints": [float(v) if i % 3 < 2 else int(v) for i, v in enumerate(kp.reshape(-1))],
        "num_keypoints": num,
        "bbox": [float(v) for v in bbox],
        "area": float(area),
        "iscrowd": 0,
    }


def to_coco(export: Export, tolerance: float = 0.0,
            keep_empty: bool = True) -> tuple[dict[str, Any], list[Path], dict[str, int]]:
    """Build the canonical COCO dict of ``export``, the source file of each image (same order as ``images``) and
    what was dropped on the way ``{KEYPOINTS_OUTSIDE: n, PERSONS_OUTSIDE: n}``.

    Labelled points more than ``tolerance`` px outside the image become missing; persons left without keypoints
    are dropped (one warning line with both counts); images without persons are kept as negative samples when
    ``keep_empty``.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    sources: list[Path] = []
    file_names = UniqueNames()
    dropped = {KEYPOINTS_OUTSIDE: 0, PERSONS_OUTSIDE: 0}
    persons_cut = 0
    for record in export.images:
        anns = []
        for person in record.persons:
            ann = _annotation(person, len(annotations) + len(anns) + 1, record, tolerance)
            outside = int((person.keypoints[:, 2] > 0).sum()) - (ann["num_keypoints"] if ann else 0)
            dropped[KEYPOINTS_OUTSIDE] += outside
            persons_cut += outside > 0
            if ann is None:
                dropped[PERSONS_OUTSIDE] += 1
            else:
                anns.append(ann)
        if not anns and not keep_empty:
            continue
        image_id = len(images) + 1
        for ann in anns:
            ann["image_id"] = image_id
        annotations.extend(anns)
        images.append({"id": image_id, "file_name": file_names(flat_file_name(record.name)),
                       "width": int(record.width), "height": int(record.height), "source": record.rel})
        sources.append(record.path)
    if dropped[KEYPOINTS_OUTSIDE]:
        log.warning("dropped %d labelled keypoint(s) of %d person(s) lying more than data.outside_tolerance = %g px "
                    "outside their image; %d person(s) left without keypoints were dropped", dropped[KEYPOINTS_OUTSIDE],
                    persons_cut, tolerance, dropped[PERSONS_OUTSIDE])
    coco = {
        "info": {"description": f"canonical COCO keypoints from a {export.format} export", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [PERSON_CATEGORY],
    }
    return coco, sources, dropped


def load_split(annotations: str | os.PathLike | dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """Read a canonical COCO-keypoints split: (image records, image id -> keypoints [P,17,3] float64).

    Crowd annotations (``iscrowd = 1``) are left out; images without persons get an empty ``[0,17,3]``.
    """
    name = "annotations" if isinstance(annotations, dict) else str(annotations)
    if isinstance(annotations, dict):
        data = annotations
    else:
        if not Path(annotations).exists():
            raise TrainingError(f"{name}: annotation file not found (run the fetch_annotations stage)")
        data = load_json(annotations)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationError(f"{name}: field 'images' missing or not a list")
    if not isinstance(data.get("annotations", []), list):
        raise AnnotationError(f"{name}: field 'annotations' is not a list")
    images = data["images"]
    persons: dict[int, list[np.ndarray]] = {}
    for i, image in enumerate(images):
        where = f"{name}: images[{i}]"
        image_id = check_id(check_record(image, where), "id", where, integer=True)
        if not isinstance(image.get("file_name"), str):
            raise AnnotationError(f"{where}.file_name is missing or not a string")
        persons[image_id] = []
    for i, ann in enumerate(data.get("annotations") or []):
        where = f"{name}: annotations[{i}]"
        if check_record(ann, where).get("iscrowd", 0):
            continue
        kps = check_numbers(ann, "keypoints", NUM_KEYPOINTS * 3, where)
        image_id = check_id(ann, "image_id", where, integer=True)
        if image_id not in persons:
            raise AnnotationError(f"{where}.image_id {image_id} is not in 'images'")
        persons[image_id].append(kps.reshape(NUM_KEYPOINTS, 3))
    keypoints = {k: (np.stack(v) if v else np.zeros((0, NUM_KEYPOINTS, 3))) for k, v in persons.items()}
    return images, keypoints
