"""Write data/sample/: the coco_mini images + COCO keypoints as a Dataloop export and as Roboflow exports
(plus the original COCO JSON in data/sample/coco/, whose images are dataloop/items/).

    python tools/make_sample_data.py [--coco ../shared/eval/coco_mini] [--out data/sample]

Persons kept: ``iscrowd`` 0 with at least one labelled keypoint (Dataloop has no crowd regions, and a pose
without points is dropped by every reader). Images live once, in dataloop/items/; the Roboflow exports link
to them with relative symlinks (``--copy``: copies) named the Roboflow way (``<stem>_jpg.rf.<md5>.jpg``).
Deterministic output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import click
import yaml

from posenet.constants import COCO_PART_NAMES, FLIP_PERMUTATION
from posenet.data.canonical import PERSON_CATEGORY

DATASET_ID = "6650b0000000000000000d01"
RECIPE_ID = "6650b0000000000000000e01"
TEMPLATE_ID = "6650b00000000000000c0c17"
DATALOOP_LABELS = [name.replace("_", " ") for name in COCO_PART_NAMES]  # the original project's "left eye" style
VAL_EVERY = 4  # every 4th image (sorted by name) goes to the Roboflow "valid" split


def _id(*parts: object) -> str:
    """Deterministic 24-hex id (Dataloop ids are Mongo ObjectIds)."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:24]


def _gate(kind: str, ident: str) -> str:
    return f"https://gate.dataloop.ai/api/v1/{kind}/{ident}"


def _annotation(item_id: str, ident: str, kind: str, label: str, coordinates: dict, parent: str | None,
                attributes: dict) -> dict:
    return {
        "id": ident, "datasetId": DATASET_ID, "itemId": item_id, "url": _gate("annotations", ident),
        "item": _gate("items", item_id), "dataset": _gate("datasets", DATASET_ID), "type": kind, "label": label,
        "attributes": [], "coordinates": coordinates,
        "metadata": {"system": {"status": None, "frame": 0, "endFrame": 0, "parentId": parent, "attributes": attributes,
                                "automated": False, "isOpen": False, "system": False, "recipeId": RECIPE_ID},
                     "user": {}},
        "creator": "coco-consortium@example.com", "createdAt": "2024-05-24T10:00:00.000Z",
        "updatedBy": "coco-consortium@example.com", "updatedAt": "2024-05-24T10:00:00.000Z", "source": "ui",
    }


def dataloop_item(image: dict, persons: list[dict], size_bytes: int) -> dict:
    """Platform-export item JSON: one ``pose`` per person, one ``point`` child per labelled keypoint."""
    item_id = _id("item", image["id"])
    annotations = []
    for person in persons:
        pose_id = _id("pose", person["id"])
        annotations.append(_annotation(item_id, pose_id, "pose", "person",
                                       {"templateId": TEMPLATE_ID, "instanceId": _id("instance", person["id"])},
                                       None, {}))
        for k, (x, y, v) in enumerate(zip(*[iter(person["keypoints"])] * 3)):
            if v > 0:
                annotations.append(_annotation(item_id, _id("point", person["id"], k), "point", DATALOOP_LABELS[k],
                                               {"x": float(x), "y": float(y), "z": 0}, pose_id,
                                               {"visibility": "Visible" if v == 2 else "Occluded"}))
    name = image["file_name"]
    return {
        "id": item_id, "datasetId": DATASET_ID, "url": _gate("items", item_id),
        "dataset": _gate("datasets", DATASET_ID),
        "createdAt": "2024-05-24T09:00:00.000Z", "dir": "/", "filename": f"/{name}", "type": "file", "hidden": False,
        "metadata": {"system": {"channels": 3, "height": image["height"], "width": image["width"], "isBinary": True,
                                "mimetype": "image/jpeg", "originalname": name, "size": size_bytes}},
        "name": name, "annotations": annotations, "annotationsCount": len(annotations), "annotated": bool(annotations),
    }


def roboflow_name(file_name: str, data: bytes) -> str:
    """Roboflow's renaming: ``x.jpg`` -> ``x_jpg.rf.<md5 of the bytes>.jpg``."""
    stem, ext = os.path.splitext(file_name)
    return f"{stem}_{ext.lstrip('.')}.rf.{hashlib.md5(data).hexdigest()}{ext}"


def _link(target: Path, link: Path, copy: bool) -> None:
    """Put ``target`` at ``link``: a relative symlink, or a copy when ``copy``."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copyfile(target, link)
    else:
        link.symlink_to(os.path.relpath(target, link.parent))


@click.command()
@click.option("--coco", "coco_dir", default="../shared/eval/coco_mini", show_default=True,
              help="folder with annotations.json + images/")
@click.option("--out", default="data/sample", show_default=True)
@click.option("--copy", is_flag=True, help="copy the images into the Roboflow exports instead of symlinking")
def main(coco_dir: str, out: str, copy: bool) -> None:
    """Write data/sample: the same COCO persons as Dataloop, Roboflow COCO, Roboflow YOLOv8 and plain COCO exports."""
    src = Path(coco_dir)
    coco = json.loads((src / "annotations.json").read_text(encoding="utf-8"))
    out_dir = Path(out)
    for sub in ("dataloop", "roboflow_coco", "roboflow_yolov8", "coco"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "coco").mkdir(parents=True)
    shutil.copyfile(src / "annotations.json", out_dir / "coco" / "person_keypoints.json")  # the original, unchanged
    persons_of: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        if not ann.get("iscrowd") and ann["num_keypoints"] > 0:
            persons_of.setdefault(ann["image_id"], []).append(ann)
    images = sorted(coco["images"], key=lambda img: img["file_name"])
    rf_splits: dict[str, dict] = {}
    yolo_names = {"train": [], "valid": []}
    for i, image in enumerate(images):
        data = (src / "images" / image["file_name"]).read_bytes()
        item = out_dir / "dataloop" / "items" / image["file_name"]
        item.parent.mkdir(parents=True, exist_ok=True)
        item.write_bytes(data)
        persons = persons_of.get(image["id"], [])
        json_path = out_dir / "dataloop" / "json" / (Path(image["file_name"]).stem + ".json")  # export V1 naming
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(dataloop_item(image, persons, len(data)), indent=2) + "\n", encoding="utf-8")

        split = "valid" if i % VAL_EVERY == VAL_EVERY - 1 else "train"
        rf_name = roboflow_name(image["file_name"], data)
        _link(item, out_dir / "roboflow_coco" / split / rf_name, copy)
        _link(item, out_dir / "roboflow_yolov8" / split / "images" / rf_name, copy)
        coco_split = rf_splits.setdefault(split, {"images": [], "annotations": []})
        image_id = len(coco_split["images"])
        coco_split["images"].append({"id": image_id, "license": 1, "file_name": rf_name, "height": image["height"],
                                     "width": image["width"], "date_captured": "2024-05-24T10:00:00+00:00"})
        lines = []
        w, h = image["width"], image["height"]
        for person in persons:
            coco_split["annotations"].append({
                "id": len(coco_split["annotations"]), "image_id": image_id, "category_id": 1, "bbox": person["bbox"],
                "area": person["area"], "segmentation": [], "iscrowd": 0, "keypoints": person["keypoints"],
                "num_keypoints": person["num_keypoints"]})
            bx, by, bw, bh = person["bbox"]
            values = [(bx + bw / 2) / w, (by + bh / 2) / h, bw / w, bh / h]
            for x, y, v in zip(*[iter(person["keypoints"])] * 3):
                values += [x / w, y / h, v] if v > 0 else [0.0, 0.0, 0]
            lines.append("0 " + " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in values))
        label = out_dir / "roboflow_yolov8" / split / "labels" / (Path(rf_name).stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        yolo_names[split].append(rf_name)

    categories = [
        {"id": 0, "name": "people-kp", "supercategory": "none"},
        {"id": 1, "name": "person", "supercategory": "people-kp", "keypoints": list(COCO_PART_NAMES),
         "skeleton": PERSON_CATEGORY["skeleton"]},
    ]
    info = {"year": "2024", "version": "1", "description": "Exported from roboflow.com (sample written by "
            "tools/make_sample_data.py from COCO val2017 annotations)", "contributor": "COCO Consortium",
            "url": "https://cocodataset.org", "date_created": "2024-05-24T10:00:00+00:00"}
    licenses = [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}]
    for split, content in rf_splits.items():
        path = out_dir / "roboflow_coco" / split / "_annotations.coco.json"
        path.write_text(json.dumps({"info": info, "licenses": licenses, "categories": categories, **content}, indent=1)
                        + "\n", encoding="utf-8")
    data_yaml = {"train": "../train/images", "val": "../valid/images", "test": "../test/images",
                 "kpt_shape": [len(COCO_PART_NAMES), 3], "flip_idx": [int(i) for i in FLIP_PERMUTATION],
                 "nc": 1, "names": ["person"],
                 "roboflow": {"workspace": "posenet-sample", "project": "coco-mini-keypoints", "version": 1,
                              "license": "CC BY 4.0", "url": "https://cocodataset.org"}}
    (out_dir / "roboflow_yolov8" / "data.yaml").write_text(
        yaml.safe_dump(data_yaml, sort_keys=False, default_flow_style=None), encoding="utf-8")
    click.echo(f"{len(images)} images, {sum(map(len, persons_of.values()))} persons -> {out_dir}")


if __name__ == "__main__":
    main()
