"""The TF.js export run by the real thing: the official ``@tensorflow-models/posenet@2.2.2`` on
``@tensorflow/tfjs-core`` / ``-converter`` / ``-backend-cpu`` 3.21.0 in node (versions pinned by this folder's
package-lock.json, installed with ``npm ci`` into the user cache), loading ``posenet export --format tfjs``
folders unedited over HTTP, against this project's Predictor (tfjs preset, the same settings) on the real
photos of tests/data/images as PNG.

Tolerances reached (cpu backend, 2026-12 run): the float32 exports 1.1e-4 px mean keypoint distance and 5e-6 in
score (bar: 0.5 px, 1e-3). Each quantised export equals, within that bar, the Predictor running the weights
``convert`` reads back from it (TF.js dequantises exactly as the reader does); against the float32 model, over
the poses of score >= 0.2 at input 257 on the three photos: float16 0.18 px / 0.006 in score, uint16 0.18 px /
0.11 (one keypoint read from the neighbouring cell), uint8 6-46 px / up to 0.89 (every person still found, but
limbs move: uint8 is for size, not accuracy).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tfjs_support import HERE, install, matched_gaps, png_photos, pose_gaps, run_official, tfjs_pose

from posenet.commands.export import export
from posenet.inference.predictor import Predictor
from posenet.io.media import read_image
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.models.variants import VARIANTS, reachable_strides
from posenet.params import load_params
from posenet.weights.folder import convert_folder
from posenet.weights.tfjs_export import describe_tfjs, write_graph_model

pytestmark = [pytest.mark.slow, pytest.mark.network]

KP_TOL, SCORE_TOL = 0.5, 1e-3  # the bar: mean keypoint distance (px), pose and keypoint scores
STRONG = 0.2  # pose score of a person (weaker poses are background noise)
RAW_SIZE = 129  # k * 32 + 1: one photo crop serves every stride


@pytest.fixture(scope="module")
def node_modules():
    return install(HERE, "the TF.js parity tests")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return png_photos(tmp_path_factory.mktemp("png"))


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    """An empty parameters file: the built-in defaults (tfjs preset), never the workspace's params.yaml."""
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text("{}\n")
    return path


@pytest.fixture(scope="module")
def params(params_file):
    return load_params(params_file)


def export_tfjs(params_file, checkpoint, out, *args: str) -> None:
    """``posenet export --format tfjs`` as a user runs it."""
    result = CliRunner().invoke(export, ["--format", "tfjs", "--weights", str(checkpoint), "--out", str(out),
                                         "--params", str(params_file), *args])
    assert result.exit_code == 0, result.output


def checkpoint_of(model, path):
    save_checkpoint(path, model, {"variant": model.variant})
    return path


def official_run(model_dir, root, params, photos, stride, multiplier, size) -> dict:
    """One run spec of run_posenet.js: estimateMultiplePoses with the params' tfjs settings."""
    predict = params.predict
    return {"model": f"{model_dir.relative_to(root)}/model.json", "images": [str(p) for p in photos],
            "load": {"outputStride": stride, "multiplier": multiplier, "inputResolution": size},
            "decode": {"maxDetections": predict.max_poses, "scoreThreshold": predict.score_threshold,
                       "nmsRadius": predict.nms_radius}}


def gaps_against(model, params, photos, size, results) -> list[tuple[float, float]]:
    """(mean-distance gap, score gap) per photo between the Predictor on ``model`` and the official results."""
    predictor = Predictor.from_params(params, model=model, device="cpu", preset="tfjs", input_size=size)
    return [pose_gaps([tfjs_pose(p) for p in poses], predictor(read_image(photo)))
            for photo, poses in zip(photos, results)]


def assert_within(gaps, kp_tol=KP_TOL, score_tol=SCORE_TOL) -> None:
    worst = (max(g[0] for g in gaps), max(g[1] for g in gaps))
    print(f"official posenet against the Predictor: {worst[0]:.2e} px, {worst[1]:.2e} in score")
    assert worst[0] <= kp_tol and worst[1] <= score_tol, f"worst gap {worst}, per photo {gaps}"


def test_pretrained_and_fine_tuned_exports_match_the_predictor(pretrained_model, node_modules, photos, params,
                                                               params_file, tmp_path):
    """Google's weights (stride 16, inputs 257 and 513) and a perturbed copy standing for a fine-tuned model
    (stride 8), each exported with the CLI and loaded by the official package."""
    pretrained = checkpoint_of(pretrained_model, tmp_path / "pretrained.pt")
    torch.manual_seed(0)
    tuned = create_model("mobilenet_v1_075", 8).eval()
    tuned.load_state_dict({k: v * (1 + 0.01 * torch.randn_like(v)) for k, v in pretrained_model.state_dict().items()})
    tuned_ckpt = checkpoint_of(tuned, tmp_path / "tuned.pt")
    root = tmp_path / "exports"
    export_tfjs(params_file, pretrained, root / "pretrained", "--stride", "16")
    export_tfjs(params_file, tuned_ckpt, root / "tuned", "--stride", "8")
    runs = [official_run(root / "pretrained", root, params, photos, 16, 0.75, 257),
            official_run(root / "pretrained", root, params, photos[-1:], 16, 0.75, 513),
            official_run(root / "tuned", root, params, photos, 8, 0.75, 257)]
    out = run_official(node_modules, root, runs, tmp_path)
    assert out["backend"] == "cpu" and out["tfjs_version"] == "3.21.0"
    assert {"pretrained/model.json", "pretrained/group1-shard1of2.bin", "pretrained/group1-shard2of2.bin",
            "tuned/model.json"} <= set(out["served"])
    results = out["runs"]
    for run in results:  # real people found (5 on the three photos), not an empty comparison
        assert sum(p["score"] >= STRONG for poses in run for p in poses) >= len(run) + (2 if len(run) > 1 else 0)
    assert_within(gaps_against(pretrained_model, params, photos, 257, results[0]))
    assert_within(gaps_against(pretrained_model, params, photos[-1:], 513, results[1]))
    assert_within(gaps_against(tuned, params, photos, 257, results[2]))
    # the tuned weights are another model: its people are not where the pretrained model puts them at stride 8
    pretrained_s8 = create_model("mobilenet_v1_075", 8).eval()
    pretrained_s8.load_state_dict(pretrained_model.state_dict())
    predictor = Predictor.from_params(params, model=pretrained_s8, device="cpu", preset="tfjs", input_size=257)
    moved = [matched_gaps([tfjs_pose(p) for p in poses if p["score"] >= STRONG],
                          [p for p in predictor(read_image(photo)) if p.score >= STRONG])[0]
             for photo, poses in zip(photos, results[2])]
    assert max(moved) > 1.0, moved


# Measured gaps of each quantisation against the float32 model (module docstring), over the poses of score >= 0.2
# (the weaker ones are background noise that any change reshuffles): largest mean keypoint distance (px), largest
# pose or keypoint score difference, poses found by one side only (all photos together).
QUANTISED = {"float16": (0.3, 0.02, 0), "uint16": (0.3, 0.15, 0), "uint8": (60.0, 0.95, 2)}


@pytest.mark.parametrize("quantize", list(QUANTISED))
def test_quantised_exports(pretrained_model, node_modules, photos, params, params_file, tmp_path, quantize):
    """The official loader dequantises as ``convert`` reads the file (parity with the Predictor on the weights read
    back); against the float model each reaches the tolerance stated in the module docstring."""
    root = tmp_path / "exports"
    checkpoint = checkpoint_of(pretrained_model, tmp_path / "pretrained.pt")
    export_tfjs(params_file, checkpoint, root / quantize, "--quantize", quantize)
    results = run_official(node_modules, root, [official_run(root / quantize, root, params, photos, 16, 0.75, 257)],
                           tmp_path)["runs"][0]
    read_back = create_model("mobilenet_v1_075", 16).eval()
    read_back.load_state_dict(convert_folder(root / quantize, "mobilenet_v1_075")[0])
    assert_within(gaps_against(read_back, params, photos, 257, results))
    predictor = Predictor.from_params(params, model=pretrained_model, device="cpu", preset="tfjs", input_size=257)
    gaps = []
    for photo, poses in zip(photos, results):
        got, want = [tfjs_pose(p) for p in poses], predictor(read_image(photo))
        gaps.append(matched_gaps([p for p in got if p.score >= STRONG], [p for p in want if p.score >= STRONG]))
    worst = (max(g[0] for g in gaps), max(g[1] for g in gaps), sum(g[2] for g in gaps))
    print(f"{quantize} against the float model: {worst[0]:.4f} px, {worst[1]:.2e} in score, {worst[2]} unpaired")
    kp_tol, score_tol, unpaired = QUANTISED[quantize]
    assert worst[0] <= kp_tol and worst[1] <= score_tol and worst[2] <= unpaired, gaps


def test_raw_outputs_of_every_variant_and_stride(node_modules, photos, tmp_path):
    """posenet's own MobileNet wrapper (normalisation, graph, sigmoid) on random-weight exports of every variant
    and stride equals the PyTorch model on the same pixels: the strides, dilations and paddings are right."""
    crop = read_image(photos[0])[:RAW_SIZE, 200:200 + RAW_SIZE]
    image = tmp_path / "crop.png"
    cv2.imwrite(str(image), np.ascontiguousarray(crop[:, :, ::-1]))
    root = tmp_path / "exports"
    configs = [(name, stride) for name in VARIANTS for stride in reachable_strides(name)]
    models, runs = {}, []
    for index, (name, stride) in enumerate(configs):
        torch.manual_seed(index)
        model = create_model(name, stride).eval()
        for value in model.state_dict().values():  # He-scaled weights keep the activations alive in depth
            scale = (2 / value[0].numel()) ** 0.5 if value.dim() > 1 else 0.1
            value.copy_(torch.randn_like(value) * scale)
        folder = root / f"{name}_s{stride}"
        write_graph_model(folder, model.state_dict(), name, stride,
                          metadata=describe_tfjs(name, stride, RAW_SIZE))
        models[(name, stride)] = model
        runs.append({"model": f"{folder.name}/model.json", "images": [str(image)], "raw": True,
                     "load": describe_tfjs(name, stride, RAW_SIZE)["load"]})
    out = run_official(node_modules, root, runs, tmp_path)
    x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 127.5 - 1
    for (name, stride), result in zip(configs, out["runs"]):
        with torch.no_grad():
            want = models[(name, stride)](x)
        raw = result[0]
        for key, tensor in (("heatmapScores", torch.sigmoid(want.heatmaps)), ("offsets", want.offsets),
                            ("displacementFwd", want.displacements_fwd), ("displacementBwd", want.displacements_bwd)):
            ref = tensor[0].permute(1, 2, 0).numpy()
            got = np.asarray(raw[key]["data"], dtype=np.float32).reshape(raw[key]["shape"])
            assert got.shape == ref.shape == ((RAW_SIZE - 1) // stride + 1,) * 2 + (ref.shape[-1],)
            scale = max(1.0, float(np.abs(ref).max()))
            assert float(np.abs(got - ref).max()) <= 1e-4 * scale, (name, stride, key)
            assert float(np.abs(ref).std()) > 1e-3, (name, stride, key)  # not a constant map
