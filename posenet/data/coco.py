"""COCO keypoints JSON (a COCO download such as person_keypoints_val2017.json + its image folder).

Also the core of the Roboflow COCO reader: keypoint names come from each category's ``keypoints`` list, so
any order (and Roboflow's synthetic parent category 0) is handled. Crowd regions (``iscrowd`` 1) are not
persons with keypoints and are left out, as are persons with no labelled keypoint.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from posenet.data.canonical import empty_keypoints
from posenet.data.files import index_images, load_json, nfc
from posenet.data.imagemeta import probe_image
from posenet.data.parts import keypoint_index
from posenet.data.records import Export, ImageRecord, Person, has_keypoints
from posenet.errors import AnnotationError

log = logging.getLogger(__name__)


def read_coco(path: str | Path, images: str | Path | None = None, unknown_labels: str = "error") -> Export:
    """Parse a COCO keypoints JSON; images are looked up in ``images`` (default: the JSON's folder)."""
    path = Path(path)
    if path.is_dir():
        raise AnnotationError(f"{path}: for format coco, data.path must be the annotation JSON file, not a folder")
    images_dir = Path(images) if images else path.parent
    records, skipped = parse_coco_json(path, images_dir, rel_prefix="", unknown_labels=unknown_labels)
    return Export(format="coco", root=images_dir, images=records, skipped=skipped)


def _list_field(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise AnnotationError(f"{path}: field '{key}' must be a list, got {type(value).__name__}")
    return value


def _category_maps(categories: list[Any], path: Path, unknown_labels: str) -> dict[Any, np.ndarray]:
    """{category id: COCO index of each of its keypoints (-1: ignored)} for categories with keypoints."""
    maps = {}
    for c, cat in enumerate(categories):
        if not isinstance(cat, dict) or not cat.get("keypoints"):
            continue
        indices = []
        for k, name in enumerate(cat["keypoints"]):
            where = f"{path}: categories[{c}].keypoints[{k}]"
            idx = keypoint_index(str(name), where, unknown_labels)
            if idx >= 0 and idx in indices:
                raise AnnotationError(f"{where}: {name!r} names a keypoint listed twice in this category")
            indices.append(idx)
        maps[cat.get("id")] = np.array(indices, dtype=np.int64)
    if not maps:
        raise AnnotationError(f"{path}: no category has a 'keypoints' list (not a keypoint export?)")
    return maps


def _person(ann: dict[str, Any], mapping: np.ndarray, where: str) -> Person:
    raw = ann.get("keypoints")
    try:
        values = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = np.empty(0)
    if values.size != 3 * len(mapping) or not np.isfinite(values).all():
        raise AnnotationError(f"{where}.keypoints: expected {3 * len(mapping)} numbers (x, y, v per keypoint)")
    triplets = values.reshape(-1, 3)
    if not np.isin(triplets[:, 2], (0, 1, 2)).all():
        raise AnnotationError(f"{where}.keypoints: visibility must be 0, 1 or 2")
    keypoints = empty_keypoints()
    keep = (mapping >= 0) & (triplets[:, 2] > 0)
    keypoints[mapping[keep]] = triplets[keep]
    bbox = ann.get("bbox")
    bbox = tuple(float(v) for v in bbox) if isinstance(bbox, list) and len(bbox) == 4 else None
    area = ann.get("area")
    return Person(keypoints=keypoints, bbox=bbox, area=float(area) if isinstance(area, (int, float)) else None)


def parse_coco_json(path: Path, images_dir: Path, rel_prefix: str = "",
                    unknown_labels: str = "error") -> tuple[list[ImageRecord], int]:
    """Records of one COCO keypoints JSON (images with their persons) and the number of skipped images."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a COCO JSON object, got {type(data).__name__}")
    maps = _category_maps(_list_field(data, "categories", path), path, unknown_labels)
    image_list = _list_field(data, "images", path)
    image_ids = {img.get("id") for img in image_list if isinstance(img, dict)}
    by_image: dict[Any, list[Person]] = defaultdict(list)
    crowd = empty = 0
    for j, ann in enumerate(_list_field(data, "annotations", path)):
        where = f"{path}: annotations[{j}]"
        if not isinstance(ann, dict):
            raise AnnotationError(f"{where} is not an object")
        if ann.get("category_id") not in maps:
            continue  # not a keypoint category (e.g. Roboflow's parent category)
        if ann.get("image_id") not in image_ids:
            raise AnnotationError(f"{where}.image_id: {ann.get('image_id')!r} is not the id of any image")
        if ann.get("iscrowd"):
            crowd += 1
            continue
        person = _person(ann, maps[ann["category_id"]], where)
        if has_keypoints(person.keypoints):
            by_image[ann["image_id"]].append(person)
        else:
            empty += 1
    if crowd or empty:
        log.info("%s: left out %d crowd region(s) and %d person(s) without keypoints", path, crowd, empty)
    files = index_images(images_dir)
    records, skipped = [], 0
    for i, img in enumerate(image_list):
        name = img.get("file_name") if isinstance(img, dict) else None
        if not isinstance(name, str) or not name:
            raise AnnotationError(f"{path}: images[{i}].file_name is missing")
        key = nfc(name.replace("\\", "/"))
        if key not in files:
            log.warning("skipping %s: images[%d].file_name %r not found in %s", path, i, name, images_dir)
            skipped += 1
            continue
        size = probe_image(files[key], (img.get("width"), img.get("height")), f"{path}: images[{i}]")
        if size is None:
            skipped += 1
            continue
        records.append(ImageRecord(path=files[key], rel=rel_prefix + key, name=key, width=size[0], height=size[1],
                                   persons=by_image.get(img.get("id"), [])))
    return records, skipped
