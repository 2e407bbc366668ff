"""COCO keypoints JSON (a COCO download such as person_keypoints_val2017.json + its image folder), or a folder of
one JSON per split (``annotations/person_keypoints_{train,val}2017.json`` + ``{train,val}2017/``; the file names
give the export's split).

Also the core of the Roboflow COCO reader: keypoint names come from each category's ``keypoints`` list, so
any order (and Roboflow's synthetic parent category 0) is handled. Only the person category is read (or the one
``data.category`` names; see ``category.select_categories``). Crowd regions (``iscrowd`` 1) are not
persons with keypoints and are left out, as are persons with no labelled keypoint.
"""

from __future__ import annotations

import logging
import math
import re
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
from posenet.data.records import UNKNOWN_CATEGORY, Export, ImageRecord, Person, has_keypoints, merge_exports
from posenet.data.split import SPLITS, split_of_folder
from posenet.errors import AnnotationError

__all__ = ["WHOLE_BODY_FILES", "image_folders", "parse_coco_json", "read_coco", "split_files"]

log = logging.getLogger(__name__)


def read_coco(path: str | Path, images: str | Path | None = None, labels: LabelPolicy | None = None,
              category: str = "") -> Export:
    """Parse a COCO keypoints JSON, or a folder of one JSON per split (``split_files``); images are looked up in
    ``images`` (default: beside each JSON, see ``image_folders``).

    category: ``data.category`` (name or id of the category to read; empty: the person category).
    """
    path = Path(path)
    labels = labels or LabelPolicy()
    if not path.is_dir():
        return parse_coco_json(path, [Path(images)] if images else [path.parent], "", labels, category)
    parts = []
    for json_path, split in split_files(path):
        part = parse_coco_json(json_path, [Path(images)] if images else image_folders(json_path, path), f"{split}/",
                               labels, category)
        for record in part.images:
            record.split = split
        part.found = f"{split}: {part.found}"
        parts.append(part)
    return merge_exports("coco", path, parts)


def _split_word(name: str) -> str:
    """The split a file or folder name holds as a word (``person_keypoints_val2017`` -> ``val``), or ``""``."""
    words = [split_of_folder(w) for w in re.split(r"[^a-z]+", name.lower())]
    return next((w for w in words if w), "")


def split_files(root: Path) -> list[tuple[Path, str]]:
    """(JSON file, split) of a folder given as a COCO export: the ``*.json`` files below ``root`` whose name (else
    one of their folders below ``root``) holds a split word (``person_keypoints_train2017.json``,
    ``val/annotations.json``); of several per split, the ones named ``*keypoints*`` (COCO's annotation folder also
    holds ``instances_*`` and ``captions_*``). AnnotationError when no file or several files name a split."""
    by_split: dict[str, list[Path]] = defaultdict(list)
    for json_path in sorted(root.rglob("*.json")):
        names = [json_path.stem, *reversed(json_path.parent.relative_to(root).parts)]
        split = next((w for w in map(_split_word, names) if w), "")
        if split:
            by_split[split].append(json_path)
    if not by_split:
        raise AnnotationError(f"{root}: no JSON file named by split (e.g. person_keypoints_train2017.json, "
                              "val/annotations.json); for one file, set data.path to it")
    chosen = []
    for split in sorted(by_split, key=SPLITS.index):
        files = by_split[split]
        files = [f for f in files if "keypoints" in f.stem.lower()] or files
        if len(files) > 1:
            raise AnnotationError(f"{root}: {len(files)} JSON files for split {split} "
                                  f"({', '.join(f.relative_to(root).as_posix() for f in files)}); keep one")
        chosen.append((files[0], split))
    return chosen


def image_folders(json_path: Path, root: Path) -> list[Path]:
    """Where the images of a per-split COCO JSON may lie: ``images/`` beside it, its folder, the folder of the
    COCO download layout (``annotations/person_keypoints_train2017.json`` -> ``<root>/train2017``), ``<root>/images``;
    ``parse_coco_json`` takes the one holding most of the file's images."""
    tail = json_path.stem.rsplit("_", 1)[-1]
    return [json_path.parent / "images", json_path.parent, root / tail, root / "images" / tail, root / "images"]


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


def parse_coco_json(path: Path, images_dirs: list[Path], rel_prefix: str = "", labels: LabelPolicy | None = None,
                    category: str = "") -> Export:
    """The images (with their persons) of one COCO keypoints JSON, as an export rooted at the image folder: its
    ``skipped`` images, a ``found`` line saying what was read (for the error when no person is left) and the count
    of annotations left out for a ``category_id`` no category has (``dropped``, with one warning line).

    Every record is checked first: ids are integers or strings, no id twice, numbers are finite; AnnotationError
    names the file, the record and the field. ``images_dirs``: candidate image folders, the one holding most of
    the listed file names is used. ``category``: as in ``read_coco``."""
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
    wanted = {nfc(img["file_name"].replace("\\", "/")) for img in image_list if isinstance(img.get("file_name"), str)}
    indexed = [(d, index_images(d)) for d in dict.fromkeys(images_dirs)]
    images_dir, files = max(indexed, key=lambda item: len(wanted.intersection(item[1])))  # first of equals
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
