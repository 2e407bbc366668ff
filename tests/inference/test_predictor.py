"""Predictor end to end: from the photo, the TF.js reference poses in original image pixels."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_cases import (
    KP_TOL,
    LOCAL_CASES,
    SCORE_TOL,
    SHARED_CASES,
    case_id,
    image_path,
    load_case,
    pose_diffs,
    read_like_harness,
)

from posenet.codec.decode import decode_single_pose
from posenet.codec.letterbox import letterbox, scale_poses
from posenet.errors import ParamsError
from posenet.inference.config import PredictorConfig
from posenet.inference.predictor import Predictor
from posenet.inference.presets import PRESETS
from posenet.io.media import read_image
from posenet.params import PREDICT_PRESETS, Params, PredictParams


def predictor_for(model, arrays, ref, multi_pose=True):
    cfg = ref["multi_pose_config"]
    return Predictor(model, input_size=int(arrays["input_hw"][0]), multi_pose=multi_pose,
                     max_poses=cfg["maxDetections"], score_threshold=cfg["scoreThreshold"],
                     nms_radius=cfg["nmsRadius"], device="cpu")


@pytest.mark.parametrize("npz", LOCAL_CASES, ids=case_id)
def test_end_to_end_matches_reference(pretrained_model, npz):
    arrays, ref = load_case(npz)
    image = read_like_harness(image_path(npz, ref))
    pred = predictor_for(pretrained_model, arrays, ref).run(image)
    kp, sc = pose_diffs(pred.poses, ref["multi_poses"])
    assert kp <= KP_TOL and sc <= SCORE_TOL
    assert np.abs(pred.heatmap_scores - arrays["heatmaps"]).max() < 1e-4
    assert pred.letterbox.padding == tuple(arrays["padding_tblr"].tolist())
    assert pred.letterbox.input_hw == tuple(arrays["input_hw"])
    single = predictor_for(pretrained_model, arrays, ref, multi_pose=False)(image)
    kp, sc = pose_diffs(single, [ref["single_pose"]])
    assert kp <= KP_TOL and sc <= SCORE_TOL


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CASES, reason="../shared/eval/tfjs_reference not present")
def test_end_to_end_matches_every_reference_case(pretrained_model):
    predictors = {}
    worst = [0.0, 0.0]
    for npz in SHARED_CASES:
        arrays, ref = load_case(npz)
        size = int(arrays["input_hw"][0])
        predictors.setdefault(size, predictor_for(pretrained_model, arrays, ref))
        pred = predictors[size].run(read_like_harness(image_path(npz, ref)))
        single = decode_single_pose(pred.heatmap_scores, pred.offsets, pred.output_stride)
        single = scale_poses([single], letterbox(tuple(arrays["image_hw"]), pred.letterbox.input_hw))
        for got, want in ((pred.poses, ref["multi_poses"]), (single, [ref["single_pose"]])):
            kp, sc = pose_diffs(got, want)
            assert kp <= KP_TOL and sc <= SCORE_TOL, (npz, kp, sc)
            worst = [max(worst[0], kp), max(worst[1], sc)]
    print("end-to-end parity over", len(SHARED_CASES), "cases: max keypoint diff px, max score diff:", worst)


def test_batch_equals_single_and_prediction_fields(pretrained_model):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (120, 90, 3), dtype=np.uint8), rng.integers(0, 256, (60, 200, 3), dtype=np.uint8)]
    predictor = Predictor(pretrained_model, input_size=129, score_threshold=0.1, device="cpu")
    batch = predictor.run_batch(images)
    for image, got in zip(images, batch):
        one = predictor.run(image)
        assert len(one.poses) == len(got.poses)
        for a, b in zip(one.poses, got.poses):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
        assert got.heatmap_scores.shape == (9, 9, 17) and got.offsets.shape == (9, 9, 34)
        assert got.displacements_fwd.shape == got.displacements_bwd.shape == (9, 9, 32)
        assert set(got.timings_ms) == {"resize", "to_tensor", "forward", "decode", "rescale"}
    assert predictor.run_batch([]) == []


def test_streams_give_the_single_stream_predictions_in_order(pretrained_model):
    images = [read_like_harness(image_path(npz, load_case(npz)[1])) for npz in LOCAL_CASES[:3]]
    images = images + [np.ascontiguousarray(img[:, ::-1]) for img in images[:2]]  # 5 images, 3 streams
    threads = torch.get_num_threads()
    one = Predictor(pretrained_model, input_size=129, device="cpu")
    streamed = Predictor(pretrained_model, input_size=129, device="cpu", streams=3)
    assert streamed.streams.threads == max(1, threads // 3)
    calls = []

    def spy(batch: torch.Tensor):
        calls.append((threading.current_thread().name, torch.get_num_threads(), len(batch)))
        return one.backend(batch)

    streamed.backend = spy
    got, want = streamed.run_batch(images), [one.run(image) for image in images]
    assert len(got) == len(images)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.heatmap_scores, b.heatmap_scores, atol=1e-5)
        assert [p.score for p in a.poses] == pytest.approx([p.score for p in b.poses], abs=1e-5)
    assert len(calls) == 5 and {(n.split("_")[0], t, size) for n, t, size in calls} == {
        ("posenet-stream", streamed.streams.threads, 1)}
    fresh = []  # threads that start using torch later get the caller's count, not a stream's share
    worker = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == threads and fresh == [threads]
    streamed.run(images[0])  # a single image runs on the calling thread
    assert calls[-1][0] == threading.current_thread().name
    with pytest.raises(ParamsError, match="streams"):
        Predictor(pretrained_model, streams=0)


def test_input_size_rounding_and_bad_settings(pretrained_model):
    assert Predictor(pretrained_model, input_size=300, device="cpu").input_hw == (289, 289)
    assert Predictor(pretrained_model, input_size=(257, 385), device="cpu").input_hw == (257, 385)
    with pytest.raises(ParamsError):
        Predictor(pretrained_model, input_size=8, device="cpu")
    with pytest.raises(ParamsError):
        Predictor(pretrained_model, max_poses=0, device="cpu")


def test_from_params_defaults(pretrained_model, tmp_path):
    from posenet.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "pre.pt", pretrained_model, {"variant": "mobilenet_v1_075"})
    params = Params(predict=PredictParams(input_size=257, max_poses=3, backend="fused"))
    predictor = Predictor.from_params(params, weights=tmp_path / "pre.pt", device="cpu")
    assert predictor.input_hw == (257, 257) and predictor.config.max_poses == 3 and predictor.config.multi_pose
    assert predictor.config.backend == "fused" and Predictor(pretrained_model).config.backend == "eager"
    default = PredictorConfig()  # TF.js PoseNet's res513 multi-pose settings
    assert (default.input_size, default.multi_pose, default.max_poses, default.score_threshold) == (513, True, 10, 0.5)
    assert predictor.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(pretrained_model):
    npz = LOCAL_CASES[0]
    arrays, ref = load_case(npz)
    image = read_like_harness(image_path(npz, ref))
    try:
        gpu = Predictor(pretrained_model, input_size=int(arrays["input_hw"][0]), device="cuda").run(image)
    finally:
        pretrained_model.to("cpu")
    kp, sc = pose_diffs(gpu.poses, ref["multi_poses"])
    assert kp <= KP_TOL and sc <= SCORE_TOL, (kp, sc)
    assert torch.backends.cudnn.allow_tf32  # the global default is left as it was


def test_presets(pretrained_model):
    assert tuple(PRESETS) == PREDICT_PRESETS and PRESETS["tfjs"] == {}
    params = Params(predict=PredictParams(max_poses=7))
    tfjs = Predictor.from_params(params, model=pretrained_model, device="cpu")
    assert tfjs.scale_hws == [(513, 513)] and not tfjs.config.flip and tfjs.config.max_poses == 7
    accurate = Predictor.from_params(params, model=pretrained_model, device="cpu", preset="accurate")
    assert accurate.scale_hws == [(769, 769), (1025, 1025)] and accurate.config.flip and accurate.config.max_poses == 20
    assert accurate.config.fit_aspect and accurate.config.backend == "int8" and not tfjs.config.fit_aspect
    assert PredictorConfig.from_params(params.predict, "fast").input_size == 513
    with pytest.raises(ParamsError, match="preset"):
        Predictor.from_params(params, model=pretrained_model, preset="best")
    with pytest.raises(ParamsError, match="scales"):
        Predictor(pretrained_model, scales=(1.0, 0.0))


def test_flip_and_repeated_scales_end_to_end(pretrained_model):
    """Flip TTA keeps the mirrored copy in one batch; a scale given twice fuses to that scale alone."""
    image = read_like_harness(image_path(LOCAL_CASES[0], load_case(LOCAL_CASES[0])[1]))
    plain = Predictor(pretrained_model, input_size=257, device="cpu").run(image)
    flip = Predictor(pretrained_model, input_size=257, flip=True, device="cpu").run(image)
    twice = Predictor(pretrained_model, input_size=257, flip=True, scales=(1.0, 1.0), device="cpu").run(image)
    assert flip.heatmap_scores.shape == plain.heatmap_scores.shape == (17, 17, 17)
    assert flip.letterbox.input_hw == (257, 257)
    assert not np.array_equal(flip.heatmap_scores, plain.heatmap_scores)
    np.testing.assert_array_equal(twice.heatmap_scores, flip.heatmap_scores)
    assert [p.score for p in twice.poses] == [p.score for p in flip.poses] and len(flip.poses) > 0
    two_sizes = Predictor(pretrained_model, input_size=257, scales=(1.0, 1.5), device="cpu").run(image)
    assert two_sizes.letterbox.input_hw == (385, 385) and two_sizes.heatmap_scores.shape == (25, 25, 17)


POSE_JPG = Path(__file__).parents[1] / "data" / "images" / "pose.jpg"  # 1000 x 667, one person


def test_run_file_decodes_whole_unless_reduced_and_times_every_step(pretrained_model):
    """The tfjs settings read the file whole: run_file is run on read_image exactly (TF.js parity holds)."""
    predictor = Predictor(pretrained_model, input_size=257, device="cpu")
    got, want = predictor.run_file(POSE_JPG), predictor.run(read_image(POSE_JPG))
    assert got.image_factor == 1 and len(got.poses) == len(want.poses) >= 1
    for a, b in zip(got.poses, want.poses):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert set(got.timings_ms) == {"read", "resize", "to_tensor", "forward", "decode", "rescale"}


def test_reduced_decode_finds_the_same_person_in_file_pixels(pretrained_model):
    """At 257 px the 1000 px photo decodes at 1/2; the poses come back in the file's pixels, the confident
    keypoints within 2 model-input pixels (3.9 image px each) of the full decode's."""
    full = Predictor(pretrained_model, input_size=257, device="cpu").run_file(POSE_JPG)
    reduced = Predictor(pretrained_model, input_size=257, reduced_decode=True, device="cpu").run_file(POSE_JPG)
    assert reduced.image_factor == 2 and reduced.letterbox.image_hw == (334, 500)
    a, b = full.poses[0], reduced.poses[0]
    assert b.score > 0.5 and abs(a.score - b.score) < 0.1
    sure = (a.keypoint_scores > 0.5) & (b.keypoint_scores > 0.5)
    assert sure.sum() >= 10
    assert np.linalg.norm(a.keypoints[sure] - b.keypoints[sure], axis=1).mean() < 2 * 1000 / 257
    assert PredictorConfig(**PRESETS["fast"]).reduced_decode and not PredictorConfig(**PRESETS["tfjs"]).reduced_decode


def test_presets_fall_back_to_fused_where_int8_cannot_run(monkeypatch, caplog):
    """int8 is ONNX Runtime on the CPU: on a GPU, or without the [onnx] extra, a preset runs on fused (logged);
    an explicit backend is kept as given."""
    import importlib.util

    from posenet.inference import config

    predict = PredictParams()
    assert PredictorConfig.from_params(predict, "fast", device="cpu").backend == "int8"
    assert config.runnable_preset_backend("int8", torch.device("cuda")) == "fused"
    assert config.runnable_preset_backend("fused", torch.device("cuda")) == "fused"
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else
                        find_spec(name, *a))
    monkeypatch.setattr(config, "_FALLBACKS_LOGGED", set())
    with caplog.at_level("INFO", logger="posenet.inference.config"):
        assert PredictorConfig.from_params(predict, "accurate", device="cpu").backend == "fused"
        PredictorConfig.from_params(predict, "fast", device="cpu")
    assert caplog.text.count("backend int8 needs onnxruntime (pip install -e '.[onnx]')") == 1
    assert PredictorConfig.from_params(predict, "fast", device="cpu", backend="onnx").backend == "onnx"


def test_fit_aspect_cuts_the_input_to_the_photo_and_finds_the_same_person(pretrained_model):
    """The 1000 x 667 photo runs at 353 x 513 instead of 513 x 513 (31 % fewer pixels) at the same scale: the
    poses, in image pixels, agree with the square letterbox's to within half a model-input pixel on average (only
    the padding's pull on the convolutions at the border differs; a wrong mapping back would be off by the
    square's 166 px of padding)."""
    image = read_image(POSE_JPG)
    square = Predictor(pretrained_model, device="cpu").run(image)
    fitted = Predictor(pretrained_model, fit_aspect=True, device="cpu").run(image)
    assert fitted.letterbox.input_hw == (353, 513) and fitted.heatmap_scores.shape == (23, 33, 17)
    a, b = square.poses[0], fitted.poses[0]
    assert b.score > 0.5 and abs(a.score - b.score) < 0.02
    sure = (a.keypoint_scores > 0.5) & (b.keypoint_scores > 0.5)
    assert sure.sum() >= 12
    assert np.linalg.norm(a.keypoints[sure] - b.keypoints[sure], axis=1).mean() < 0.5 * 1000 / 513


def test_fit_aspect_batches_the_images_whose_inputs_agree(pretrained_model):
    """A batch of landscape and portrait photos runs one forward pass per input size (mirrored copies included),
    and every image gets the poses it gets alone."""
    landscape = read_image(POSE_JPG)
    portrait = np.ascontiguousarray(landscape[:, 250:750])  # 667 x 500, the person in it
    predictor = Predictor(pretrained_model, input_size=257, fit_aspect=True, flip=True, scales=(1.0, 1.5),
                          device="cpu")
    alone = [predictor.run(image) for image in (landscape, portrait)]
    shapes = []
    forward = predictor.forward
    predictor.forward = lambda batch: shapes.append(tuple(batch.shape)) or forward(batch)
    together = predictor.run_batch([landscape, portrait, landscape])
    assert shapes == [(4, 3, 177, 257), (2, 3, 257, 193), (4, 3, 257, 385), (2, 3, 385, 289)]
    for got, want in zip(together, alone + alone[:1]):
        assert got.letterbox == want.letterbox and len(got.poses) == len(want.poses) >= 1
        for p, q in zip(got.poses, want.poses):
            np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-2)
