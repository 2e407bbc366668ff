"""data/sample read through its Dataloop, Roboflow and plain COCO exports gives the original COCO keypoints."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict

import numpy as np
import pytest
from data_helpers import SAMPLE
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posenet.data.canonical import to_coco
from posenet.data.readers import read_export
from posenet.errors import AnnotationError

ORIGINAL = SAMPLE / "coco" / "person_keypoints.json"


def original_persons() -> dict[str, list[np.ndarray]]:
    """{file name: [17x3] per person} of the COCO file, persons filtered as the sample tool does."""
    coco = json.loads(ORIGINAL.read_text(encoding="utf-8"))
    names = {img["id"]: img["file_name"] for img in coco["images"]}
    out = defaultdict(list)
    for ann in coco["annotations"]:
        if not ann["iscrowd"] and ann["num_keypoints"] > 0:
            out[names[ann["image_id"]]].append(np.array(ann["keypoints"], dtype=np.float64).reshape(17, 3))
    assert len(names) == 22
    return {name: out[name] for name in names.values()}


def original_name(rel: str) -> str:
    """``train/000000000785_jpg.rf.<md5>.jpg`` -> ``000000000785.jpg``; Dataloop ``items/x.jpg`` -> ``x.jpg``."""
    name = rel.split("/")[-1]
    match = re.match(r"(.+)_(jpg|jpeg|png)\.rf\.[0-9a-f]+\.\w+$", name)
    return f"{match.group(1)}.{match.group(2)}" if match else name


# format -> (data.path, data.images, tolerance px): the plain coco route reads the COCO file with the Dataloop photos
ROUTES = {"dataloop": (SAMPLE / "dataloop", None, 0.0), "roboflow_coco": (SAMPLE / "roboflow_coco", None, 0.0),
          "roboflow_yolov8": (SAMPLE / "roboflow_yolov8", None, 0.5),
          "coco": (ORIGINAL, SAMPLE / "dataloop" / "items", 0.0)}


@pytest.mark.parametrize("fmt", ROUTES)
def test_sample_export_gives_original_keypoints(fmt):
    path, images, tolerance = ROUTES[fmt]
    want = original_persons()
    export = read_export(fmt, path, images=images)
    got = {original_name(r.rel): r for r in export.images}
    assert sorted(got) == sorted(want) and export.skipped == 0
    for name, persons in want.items():
        record = got[name]
        assert len(record.persons) == len(persons), name
        for person, kp in zip(record.persons, persons):
            np.testing.assert_array_equal(person.keypoints[:, 2], kp[:, 2], err_msg=name)
            np.testing.assert_allclose(person.keypoints[:, :2], kp[:, :2], atol=tolerance + 1e-9, err_msg=name)
    assert sum(len(p) for p in want.values()) == 52


def test_sample_canonical_loads_in_pycocotools(tmp_path):
    coco, _, _ = to_coco(read_export("dataloop", SAMPLE / "dataloop"))
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    gt = COCO(str(path))
    assert len(gt.getImgIds()) == 22 and len(gt.getAnnIds()) == 52
    assert gt.loadCats(1)[0]["keypoints"][0] == "nose"
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in coco["annotations"]]
    evaluator = COCOeval(gt, gt.loadRes(results), "keypoints")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # ground truth scored against itself: AP 1


def test_coco_images_default_beside_the_json(tmp_path):
    """Empty data.images (the params default): photos are looked up in the annotation JSON's folder."""
    coco = json.loads(ORIGINAL.read_text(encoding="utf-8"))
    keep = coco["images"][:2]
    ids = {img["id"] for img in keep}
    coco["images"] = keep
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    (tmp_path / "person_keypoints.json").write_text(json.dumps(coco), encoding="utf-8")
    for img in keep:
        shutil.copy(SAMPLE / "dataloop" / "items" / img["file_name"], tmp_path / img["file_name"])
    export = read_export("coco", tmp_path / "person_keypoints.json", images="")
    assert export.root == tmp_path and sorted(r.rel for r in export.images) == sorted(i["file_name"] for i in keep)
    want = original_persons()
    assert [len(r.persons) for r in export.images] == [len(want[r.rel]) for r in export.images]
    with pytest.raises(AnnotationError, match=r"no usable image .*\(22 skipped\)"):  # data/sample/coco: JSON only
        read_export("coco", ORIGINAL, images="")
