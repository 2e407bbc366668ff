"""Dataloop item-annotation JSON (a dtlpy download: ``items/<dir>/<file>`` + ``json/<dir>/<stem>.json``).

Persons are ``pose`` annotations; their keypoints are ``point`` annotations whose
``metadata.system.parentId`` is the pose id (annotation-formats.md section 1). Items in a top folder named
``train``, ``val``/``valid`` or ``test`` (``items/train/...``) carry that split.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from posenet.data.canonical import empty_keypoints
from posenet.data.files import index_images, load_json, nfc
from posenet.data.imagemeta import probe_image, swaps_axes
from posenet.data.parts import LabelPolicy, normalise_part_name
from posenet.data.records import Export, ImageRecord, Person, has_keypoints
from posenet.data.split import split_of_folder
from posenet.errors import AnnotationError
from posenet.io.media import IMAGE_EXTENSIONS
from posenet.params import DataloopParams

__all__ = ["OCCLUDED_VALUES", "read_dataloop"]

log = logging.getLogger(__name__)

OCCLUDED_VALUES: tuple[str, ...] = DataloopParams().occluded_values  # params.yaml data.dataloop default


def read_dataloop(root: str | Path, occluded_values: tuple[str, ...] = OCCLUDED_VALUES,
                  labels: LabelPolicy | None = None, category: str = "") -> Export:
    """Parse a dtlpy download folder (``items/`` + ``json/``; export V1 or V2 naming; both JSON shapes).

    occluded_values: attribute values (case-insensitive) that make a point v=1 instead of v=2.
    labels: how point labels map to COCO parts (unknown ones: error, or left out).
    category: the pose label to read (``data.category``; empty: every pose, whatever its template label).
    Items whose image is missing or unreadable are skipped with a warning and counted in ``Export.skipped``.
    """
    root = Path(root)
    json_dir, items_dir = root / "json", root / "items"
    if not json_dir.is_dir():
        raise AnnotationError(f"{root}: no json/ folder (expected a dtlpy download with items/ and json/)")
    json_files = sorted(json_dir.rglob("*.json"))
    if not json_files:
        raise AnnotationError(f"{json_dir}: no annotation JSON files")
    items = index_images(items_dir)
    occluded = {v.lower() for v in occluded_values}
    labels = labels or LabelPolicy()
    records: list[ImageRecord] = []
    skipped = poses = 0
    for json_path in json_files:
        item = load_json(json_path)
        if not isinstance(item, dict):
            raise AnnotationError(f"{json_path}: expected a JSON object (one Dataloop item), got {type(item).__name__}")
        annotations = item.get("annotations")
        if not isinstance(annotations, list):
            raise AnnotationError(f"{json_path}: field 'annotations' must be a list, got {type(annotations).__name__} "
                                  "(a bare item JSON? download with annotation_options=[JSON])")
        rel = _locate_image(item, json_path.relative_to(json_dir), items)
        if rel is None:
            log.warning("skipping %s: no image for it under %s", json_path, items_dir)
            skipped += 1
            continue
        size = probe_image(items[rel], _metadata_size(item), f"{json_path}: metadata.system width/height")
        if size is None:
            skipped += 1
            continue
        pose_ids = [a.get("id") for a in annotations if isinstance(a, dict) and a.get("type") == "pose"
                    and (not category or normalise_part_name(str(a.get("label", ""))) == normalise_part_name(category))]
        poses += len(pose_ids)
        persons = _persons(annotations, pose_ids, json_path, occluded, labels)
        folders = PurePosixPath(rel).parts[:-1]
        records.append(ImageRecord(path=items[rel], rel=f"items/{rel}", name=rel, width=size[0], height=size[1],
                                   persons=persons, split=split_of_folder(folders[0]) if folders else ""))
    which = f"pose annotation(s) labelled {category!r}" if category else "pose annotation(s)"
    return Export(format="dataloop", root=root, images=records, skipped=skipped,
                  found=f"{poses} {which} in {len(json_files)} item JSON file(s)")


def _locate_image(item: dict[str, Any], json_rel: Path, items: dict[str, Path]) -> str | None:
    """Key in ``items`` of the item's image: from ``filename``, else from the JSON path (V2 ``x.jpg.json``,
    V1 ``x.json``)."""
    filename = item.get("filename")
    if isinstance(filename, str) and nfc(filename.lstrip("/")) in items:
        return nfc(filename.lstrip("/"))
    stem = PurePosixPath(nfc(json_rel.as_posix())).with_suffix("")
    if stem.suffix.lower() in IMAGE_EXTENSIONS:  # V2 keeps the image extension
        return str(stem) if str(stem) in items else None
    matches = [key for key in items if str(PurePosixPath(key).with_suffix("")) == str(stem)]
    if len(matches) > 1:
        log.warning("%s: several images match (%s); export with ExportVersion.V2", json_rel, ", ".join(matches))
        return None
    return matches[0] if matches else None


def _metadata_size(item: dict[str, Any]) -> tuple[object, object] | None:
    """(width, height) of the image as displayed per the item's ``metadata.system`` (None: not given)."""
    system = (item.get("metadata") or {}).get("system") or {}
    width, height = system.get("width"), system.get("height")
    if not width or not height:
        return None  # absent: the image's own size is used
    return (height, width) if swaps_axes((system.get("exif") or {}).get("Orientation")) else (width, height)


def _system(ann: dict[str, Any]) -> dict[str, Any]:
    return ((ann.get("metadata") or {}).get("system")) or {}


def _is_occluded(ann: dict[str, Any], occluded: set[str]) -> bool:
    """Attributes 2.0 (dict in metadata.system.attributes) or recipe-1 list attributes name an occluded value."""
    values: list[Any] = []
    named = _system(ann).get("attributes")
    if isinstance(named, dict):
        for value in named.values():
            values.extend(value if isinstance(value, list) else [value])
    legacy = ann.get("attributes")
    if isinstance(legacy, list):
        values.extend(legacy)
    return any(isinstance(v, str) and v.strip().lower() in occluded for v in values)


def _persons(annotations: list[Any], pose_ids: list[Any], json_path: Path, occluded: set[str],
             labels: LabelPolicy) -> list[Person]:
    """Persons of the poses ``pose_ids`` (ids of the item's pose annotations to read)."""
    all_poses = set()
    children: dict[Any, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise AnnotationError(f"{json_path}: annotations[{i}] is not an object")
        if ann.get("type") == "pose":
            all_poses.add(ann.get("id"))
        elif ann.get("type") == "point":
            children[_system(ann).get("parentId")].append((i, ann))
    stray = sum(len(v) for k, v in children.items() if k not in all_poses)
    if stray:
        log.warning("%s: ignored %d point(s) that belong to no pose", json_path, stray)
    persons = []
    for pose_id in pose_ids:
        keypoints = empty_keypoints()
        for i, ann in children.get(pose_id, []):
            where = f"{json_path}: annotations[{i}]"
            k = labels.index(str(ann.get("label", "")), f"{where}.label")
            if k < 0:
                continue
            if keypoints[k, 2] > 0:
                log.warning("%s: keypoint %r labelled twice in pose %s; keeping the later one", json_path,
                            ann.get("label"), pose_id)
            keypoints[k] = (*_xy(ann, where), 1 if _is_occluded(ann, occluded) else 2)
        if has_keypoints(keypoints):
            persons.append(Person(keypoints=keypoints))
        else:
            log.info("%s: pose %s has no keypoints; dropped", json_path, pose_id)
    return persons


def _xy(ann: dict[str, Any], where: str) -> tuple[float, float]:
    coords = ann.get("coordinates", ann.get("data"))
    try:
        x, y = float(coords["x"]), float(coords["y"])
    except (TypeError, KeyError, ValueError):
        raise AnnotationError(f"{where}.coordinates: expected {{'x': number, 'y': number}}, got {coords!r}") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise AnnotationError(f"{where}.coordinates: non-finite x/y {coords!r}")
    return x, y
