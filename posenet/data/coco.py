"""COCO keypoints JSON (a COCO download such as person_keypoints_val2017.json + its image folder).

Also the core of the Roboflow COCO reader: keypoint names come from each category's ``keypoints`` list, so
any order (and Roboflow's synthetic parent category 0) is handled. Only the person category is read (or the one
``data.category`` names; see ``category.select_categories``). Crowd regions (``iscrowd`` 1) are not
persons with keypoints and are left out, as are persons with no labelled keypoint.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from posenet.data.canonical import empty_keypoints
from posenet.data.category import Category, select_categories
from posenet.data.fields import check_id, check_numbers, check_record
from posenet.data.files import index_images, load_json, nfc
from posenet.data.imagemeta import probe_image
from posenet.data.parts import LabelPolicy
from posenet.data.records import UNKNOWN_CATEGORY, Export, ImageRecord, Person, has_keypoints
from posenet.errors import AnnotationError

__all__ = ["WHOLE_BODY_FILES", "parse_coco_json", "read_coco"]

log = logging.getLogger(__name__)


def read_coco(path: str | Path, images: str | Path | None = None, labels: LabelPolicy | None = None,
              category: str = "") -> Export:
    """Parse a COCO keypoints JSON; images are looked up in ``images`` (default: the JSON's folder).

    category: ``data.category`` (name or id of the category to read; empty: the person category).
    """
    path = Path(path)
    if path.is_dir():
        raise AnnotationError(f"{path}: for format coco, data.path must be the annotation JSON file, not a folder")
    images_dir = Path(images) if images else path.parent
    return parse_coco_json(path, images_dir, "", labels or LabelPolicy(), category)


def _list_field(data: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise AnnotationError(f"{path}: field '{key}' must be a list, got {type(value).__name__}")
    return value


# Point counts of whole-body skeletons stored as one flat list (no per-category names): what the file likely is.
WHOLE_BODY_FILES: dict[int, str] = {136: "a Halpe full-body file", 133: "a COCO-WholeBody file with all 133 points "
                                    "in one list", 26: "a Halpe-26 file"}


def _unnamed_keypoints_error(path: Path, annotations: list[Any]) -> AnnotationError:
    """No category names its keypoints: say how many points the annotations carry and what the file may be."""
    counts = sorted({len(a["keypoints"]) // 3 for a in annotations
                     if isinstance(a, dict) and isinstance(a.get("keypoints"), list) and a["keypoints"]})
    if not counts:
        return AnnotationError(f"{path}: no category has a 'keypoints' list and no annotation has keypoints "
                               "(not a keypoint export?)")
    kind = "".join(f" ({WHOLE_BODY_FILES[n]}?)" for n in counts if n in WHOLE_BODY_FILES)
    return AnnotationError(f"{path}: no category has a 'keypoints' list of names, but annotations carry "
                           f"{' / '.join(map(str, counts))} keypoints each{kind}; only 17-keypoint COCO persons "
                           "with named keypoints are read")


def _checked_ids(records: list[Any], kind: str, path: Path) -> dict[Any, int]:
    """{id: position} of the ``kind`` records (``images``, ``categories``): each an object with an id, no id twice."""
    ids: dict[Any, int] = {}
    for i, record in enumerate(records):
        where = f"{path}: {kind}[{i}]"
        record_id = check_id(check_record(record, where), "id", where)
        if record_id in ids:
            raise AnnotationError(f"{where}.id = {record_id!r} is also the id of {kind}[{ids[record_id]}]")
        ids[record_id] = i
    return ids


def _keypoint_categories(categories: list[dict[str, Any]], path: Path) -> dict[Any, tuple[int, Category]]:
    """{category id: (position in ``categories``, Category)} of the categories that list keypoint names."""
    found = {}
    for c, cat in enumerate(categories):
        names = cat.get("keypoints")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise AnnotationError(f"{path}: categories[{c}].keypoints must be a list of names")
        if names:
            found[cat["id"]] = (c, Category(cat["id"], str(cat.get("name", "")), names))
    return found


def _category_maps(chosen: list[Category], positions: dict[Any, int], path: Path,
                   labels: LabelPolicy) -> dict[Any, np.ndarray]:
    """{category id: COCO index of each of its keypoints (-1: left out)} of the chosen categories."""
    maps = {}
    for cat in chosen:
        indices = []
        for k, name in enumerate(cat.keypoints):
            where = f"{path}: categories[{positions[cat.id]}].keypoints[{k}]"
            idx = labels.index(name, where)
            if idx >= 0 and idx in indices:
                raise AnnotationError(f"{where}: {name!r} names a keypoint listed twice in this category")
            indices.append(idx)
        maps[cat.id] = np.array(indices, dtype=np.int64)
    return maps


def _person(ann: dict[str, Any], mapping: np.ndarray, where: str) -> Person:
    triplets = check_numbers(ann, "keypoints", 3 * len(mapping), where, " (x, y, v per keypoint)").reshape(-1, 3)
    if not np.isin(triplets[:, 2], (0, 1, 2)).all():
        raise AnnotationError(f"{where}.keypoints: visibility must be 0, 1 or 2")
    keypoints = empty_keypoints()
    keep = (mapping >= 0) & (triplets[:, 2] > 0)
    keypoints[mapping[keep]] = triplets[keep]
    bbox = tuple(check_numbers(ann, "bbox", 4, where, " (x, y, w, h)").tolist()) if ann.get("bbox") is not None \
        else None
    area = ann.get("area")
    if area is not None and (isinstance(area, bool) or not isinstance(area, (int, float)) or not math.isfinite(area)):
        raise AnnotationError(f"{where}.area = {area!r} is not a finite number")
    return Person(keypoints=keypoints, bbox=bbox, area=None if area is None else float(area))


def parse_coco_json(path: Path, images_dir: Path, rel_prefix: str = "", labels: LabelPolicy | None = None,
                    category: str = "") -> Export:
    """The images (with their persons) of one COCO keypoints JSON, as an export rooted at ``images_dir``: its
    ``skipped`` images, a ``found`` line saying what was read (for the error when no person is left) and the count
    of annotations left out for a ``category_id`` no category has (``dropped``, with one warning line).

    Every record is checked first: ids are integers or strings, no id twice, numbers are finite; AnnotationError
    names the file, the record and the field. ``category``: as in ``read_coco``."""
    labels = labels or LabelPolicy()
    data = load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a COCO JSON object, got {type(data).__name__}")
    annotations = _list_field(data, "annotations", path)
    categories = _list_field(data, "categories", path)
    category_ids = _checked_ids(categories, "categories", path)
    image_list = _list_field(data, "images", path)
    image_ids = _checked_ids(image_list, "images", path)
    keypoint_categories = _keypoint_categories(categories, path)
    if not keypoint_categories:
        raise _unnamed_keypoints_error(path, annotations)
    chosen = select_categories([cat for _, cat in keypoint_categories.values()], category, labels, str(path))
    maps = _category_maps(chosen, {k: c for k, (c, _) in keypoint_categories.items()}, path, labels)
    by_image: dict[Any, list[Person]] = defaultdict(list)
    crowd = empty = other = 0
    unknown: list[str] = []
    for j, ann in enumerate(annotations):
        where = f"{path}: annotations[{j}]"
        check_record(ann, where)
        category_id = check_id(ann, "category_id", where)
        image_id = check_id(ann, "image_id", where)
        if ann.get("iscrowd", 0) not in (0, 1):
            raise AnnotationError(f"{where}.iscrowd = {ann['iscrowd']!r} must be 0 or 1")
        if category_id not in category_ids:
            unknown.append(f"annotations[{j}].category_id = {category_id!r}")
            continue
        if category_id not in maps:
            other += category_id in keypoint_categories
            continue  # another skeleton, or no keypoint category (e.g. Roboflow's parent category)
        if image_id not in image_ids:
            raise AnnotationError(f"{where}.image_id: {image_id!r} is not the id of any image")
        if ann.get("iscrowd"):
            crowd += 1
            continue
        person = _person(ann, maps[category_id], where)
        if has_keypoints(person.keypoints):
            by_image[image_id].append(person)
        else:
            empty += 1
    if unknown:
        log.warning("%s: left out %d annotation(s) whose category_id is the id of no category (first: %s)", path,
                    len(unknown), unknown[0])
    if crowd or empty or other:
        log.info("%s: left out %d crowd region(s), %d person(s) without keypoints and %d annotation(s) of other "
                 "keypoint categories", path, crowd, empty, other)
    names = ", ".join(repr(c.name) for c in chosen)
    found = (f"{path.name}: {sum(map(len, by_image.values()))} person(s) with keypoints among {len(annotations)} "
             f"annotation(s) (category {names}: {crowd} crowd, {empty} without keypoints; {other} of other skeletons; "
             f"{len(unknown)} of no category)")
    files = index_images(images_dir)
    records, skipped = [], 0
    for i, img in enumerate(image_list):
        name = img.get("file_name")
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
                                   persons=by_image.get(img["id"], [])))
    return Export(format="coco", root=images_dir, images=records, skipped=skipped, found=found,
                  dropped={UNKNOWN_CATEGORY: len(unknown)})
