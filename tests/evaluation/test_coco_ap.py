"""COCO OKS keypoint AP (pycocotools) and the Predictor on coco_mini."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference_cases import SHARED, SHARED_EVAL, TESTS

from posenet.errors import AnnotationError
from posenet.evaluation.coco import METRIC_NAMES, coco_results, evaluate_keypoints, evaluate_predictor, evaluate_presets
from posenet.inference.predictor import Predictor
from posenet.pose import Pose

TINY = TESTS / "data" / "coco_tiny"
COCO_MINI = SHARED_EVAL / "coco_mini"
needs_coco_mini = pytest.mark.skipif(not (COCO_MINI / "annotations.json").is_file(),
                                     reason="../shared/eval/coco_mini not present")


def ground_truth_poses(annotations: dict) -> dict[int, list[Pose]]:
    """Perfect detections: every annotated person as a pose (unlabelled keypoints at 0, as COCO ignores them)."""
    poses: dict[int, list[Pose]] = {img["id"]: [] for img in annotations["images"]}
    for ann in annotations["annotations"]:
        if ann.get("num_keypoints", 0) > 0:
            kps = np.array(ann["keypoints"], float).reshape(17, 3)
            poses[ann["image_id"]].append(Pose(1.0, kps[:, :2], (kps[:, 2] > 0).astype(float)))
    return poses


def test_coco_results_format():
    pose = Pose(0.75, np.arange(34).reshape(17, 2), np.full(17, 0.5))
    (res,) = coco_results({42: [pose]})
    assert res["image_id"] == 42 and res["category_id"] == 1 and res["score"] == 0.75
    assert res["keypoints"][:6] == [0.0, 1.0, 1.0, 2.0, 3.0, 1.0] and len(res["keypoints"]) == 51
    json.dumps(res)
    assert coco_results({1: []}) == []


def test_perfect_detections_score_one_and_output_is_quiet(capsys):
    annotations = json.loads((TINY / "val.json").read_text())
    results = coco_results(ground_truth_poses(annotations))
    before = [dict(r) for r in results]
    metrics = evaluate_keypoints(TINY / "val.json", results)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)
    assert results == before                          # pycocotools got copies
    assert capsys.readouterr().out == ""              # its prints went to the log


def test_no_results_is_zero_not_a_crash():
    assert evaluate_keypoints(TINY / "val.json", []) == {name: 0.0 for name in METRIC_NAMES}


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(AnnotationError, match="no such file"):
        evaluate_keypoints(tmp_path / "missing.json", [])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="bad.json"):
        evaluate_keypoints(tmp_path / "bad.json", [])
    with pytest.raises(AnnotationError, match="annotations"):
        evaluate_keypoints({"images": [], "categories": []}, [])
    pose = Pose(0.5, np.zeros((17, 2)), np.ones(17))
    with pytest.raises(AnnotationError, match="image ids"):
        evaluate_keypoints(TINY / "val.json", coco_results({999999: [pose]}))


@needs_coco_mini
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/eval/tfjs_reference not present")
def test_reference_results_give_reference_ap():
    results = json.loads((SHARED / "res513" / "coco_mini" / "coco_mini_results.json").read_text())
    assert evaluate_keypoints(COCO_MINI / "annotations.json", results)["AP"] == pytest.approx(0.280, abs=5e-4)


def test_predictor_on_coco_tiny(pretrained_model):
    metrics, results = evaluate_predictor(Predictor(pretrained_model, device="cpu"), TINY / "val.json", TINY / "images")
    assert {r["image_id"] for r in results} == {196141, 785}
    assert metrics["AP"] > 0.3


@pytest.mark.slow
@needs_coco_mini
def test_default_settings_reach_reference_ap_on_coco_mini(pretrained_model):
    """Default Predictor (513, multi-pose, 10 poses, 0.5, NMS 20) vs TF.js's AP 0.280 on coco_mini."""
    metrics, results = evaluate_predictor(Predictor(pretrained_model, device="cpu"), COCO_MINI / "annotations.json",
                                          COCO_MINI / "images")
    print("coco_mini AP at 513:", metrics)
    assert metrics["AP"] >= 0.275 and len(results) == 77


@pytest.mark.slow
@needs_coco_mini
def test_accurate_preset_beats_tfjs_on_coco_mini(pretrained_model):
    from posenet.params import Params

    metrics = evaluate_presets(Params(), pretrained_model, COCO_MINI / "annotations.json", COCO_MINI / "images",
                               ["tfjs", "accurate"])
    print("coco_mini AP per preset:", {p: m["AP"] for p, m in metrics.items()})
    assert metrics["tfjs"]["AP"] == pytest.approx(0.280, abs=0.005)
    assert metrics["accurate"]["AP"] > metrics["tfjs"]["AP"] + 0.05
