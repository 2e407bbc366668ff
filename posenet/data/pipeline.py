"""The fetch_annotations stage as a library call: (fetch) -> read -> canonical -> split -> write + summary."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from posenet.data.canonical import to_coco
from posenet.data.fetch import ROBOFLOW_FORMATS, fetch_dataloop, fetch_roboflow
from posenet.data.readers import read_export
from posenet.data.records import DROPPED_REASONS, Export
from posenet.data.split import split_dataset
from posenet.data.summary import summarise
from posenet.data.writer import write_dataset
from posenet.errors import AnnotationError
from posenet.io.atomic import write_json_atomic
from posenet.params import DataParams

__all__ = ["build_dataset", "check_persons", "load_export"]

log = logging.getLogger(__name__)


def load_export(data: DataParams, download_dir: Path) -> Export:
    """Read the export named by ``data`` (local path, or a fresh download into ``download_dir``)."""
    options: dict[str, Any] = {"keypoint_names": data.keypoint_names, "unknown_labels": data.unknown_labels,
                               "ignore_labels": data.ignore_labels, "category": data.category,
                               "occluded_values": data.dataloop.occluded_values}
    if data.source == "dataloop":
        root = fetch_dataloop(data.dataloop.project, data.dataloop.dataset, download_dir / "dataloop")
        return read_export("dataloop", root, **options)
    if data.source == "roboflow":
        rf = data.roboflow
        root = fetch_roboflow(rf.workspace, rf.project, rf.version, rf.format, download_dir / "roboflow")
        return read_export(ROBOFLOW_FORMATS[rf.format], root, **options)
    return read_export(data.format, data.path, images=data.images or None, **options)


def check_persons(export: Export, coco: dict[str, Any]) -> None:
    """Refuse a dataset without persons (wrong layout, boxes only, every label left out) in one line saying what
    the reader found; warn when fewer than half of the images have a person."""
    images = len(coco["images"])
    with_persons = len({a["image_id"] for a in coco["annotations"]})
    read = sum(len(record.persons) for record in export.images)
    outside = f"; the keypoints of all {read} person(s) lie outside their images" if read else ""
    if not coco["annotations"]:
        raise AnnotationError(f"{export.root}: 0 persons with keypoints in {len(export.images)} images of this "
                              f"{export.format} export ({export.found}{outside})")
    if with_persons < images / 2:
        log.warning("%s: only %d of %d images have a labelled person (%s)", export.root, with_persons, images,
                    export.found)


def build_dataset(data: DataParams, annotations_dir: str | os.PathLike, images_dir: str | os.PathLike,
                  summary_path: str | os.PathLike) -> dict[str, Any]:
    """Write ``<annotations_dir>/{train,val[,test]}.json``, ``<images_dir>/`` and the summary JSON; return the
    summary (``split``: the rule used and how, see ``split_dataset``; images / persons / keypoints per split;
    skipped items, and ``dropped``: annotations and keypoints left out, by reason).

    ``test.json`` only when the export has a test split. Nothing is written when the export holds no person
    (``check_persons``) or the split leaves train or val without one (``split_dataset``), and nothing is replaced
    unless everything was read and written (see ``write_dataset``).
    """
    data.group_regex()  # a bad pattern fails before the download
    parent = Path(annotations_dir).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=parent) as tmp:
        export = load_export(data, Path(tmp))
        coco, sources, dropped = to_coco(export, tolerance=data.outside_tolerance, keep_empty=data.keep_empty)
        check_persons(export, coco)
        splits, how = split_dataset(coco, {record.rel: record.split for record in export.images}, data)
        files = {img["file_name"]: src for img, src in zip(coco["images"], sources)}
        write_dataset(splits, files, annotations_dir, images_dir)
    summary = {
        "source": data.source,
        "format": export.format,
        "split": how,
        "skipped_items": export.skipped,
        "dropped": dict.fromkeys(DROPPED_REASONS, 0) | export.dropped | dropped,
        "all": summarise(coco),
    } | {name: summarise(subset) for name, subset in splits.items()}
    write_json_atomic(summary_path, summary)
    return summary
