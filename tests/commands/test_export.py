"""posenet export: ONNX files that load in ONNX Runtime and give the model's outputs, TF.js folders that convert
reads back bit-identically; one-line errors, nothing half-written."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from posenet.commands.export import default_out, export
from posenet.commands.infer import infer
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.pose import poses_from_json
from posenet.runtime.onnx import OnnxBackend, describe_onnx, load_onnx_model, onnx_bytes, with_metadata
from posenet.weights.folder import convert_folder
from posenet.weights.integrity import sha256_file


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("mobilenet_v1_050", 8).eval()
    path = tmp_path / "pn050.pt"
    save_checkpoint(path, model, {"variant": "mobilenet_v1_050"})
    return model, path


def test_export_writes_a_working_onnx_model(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    model, weights = checkpoint
    out = tmp_path / "onnx" / "pn050_s8.onnx"
    result = CliRunner().invoke(export, ["--model", "mobilenet_v1_050", "--stride", "8", "--weights", str(weights),
                                         "--opset", "13", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (onnx, opset 13, mobilenet_v1_050 stride 8" in result.output
    x = torch.rand(1, 3, 41, 57) * 2 - 1
    got = OnnxBackend(out, threads=1)(x)
    with torch.no_grad():
        want = model(x)
    assert all(np.allclose(a.numpy(), b.numpy(), atol=1e-4) for a, b in zip(got, want))
    assert sorted(p.name for p in out.parent.iterdir()) == ["pn050_s8.onnx"]  # atomic: no temp file left


@pytest.mark.parametrize("args, message", [
    (["--stride", "32", "--model", "mobilenet_v1_050"], "--stride = 32 is not reachable by mobilenet_v1_050"),
    (["--weights", "nope.pt"], "nope.pt: checkpoint not found"),
])
def test_bad_options_fail_with_one_line(tmp_path, args, message):
    result = CliRunner().invoke(export, [*args, "--out", str(tmp_path / "x.onnx")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "x.onnx").exists()


def test_missing_onnx_package_is_one_line(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` sees when the extra is not installed
    result = CliRunner().invoke(export, ["--model", "mobilenet_v1_050", "--stride", "8", "--weights",
                                         str(checkpoint[1]), "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: ONNX export needs the onnx package, which is not installed "
                                     "(pip install -e '.[onnx]')")


# --- TF.js ------------------------------------------------------------------------------------------------------

def run_export(*args: str):
    return CliRunner().invoke(export, [*args])


def one_line_error(result, message: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]


def test_tfjs_export_reads_back_bit_identically(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # params: the defaults (no params.yaml here)
    model, weights = checkpoint
    out = tmp_path / "web" / "model"
    result = run_export("--format", "tfjs", "--model", "mobilenet_v1_050", "--stride", "8", "--weights", str(weights),
                        "--input-size", "257", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (TF.js graph model, mobilenet_v1_050 stride 8, quantize none" in result.output
    assert ('posenet.load({"architecture": "MobileNetV1", "outputStride": 8, "multiplier": 0.5, '
            '"inputResolution": 257, "modelUrl": "<url of>/model.json"})') in result.output
    assert sorted(p.name for p in out.iterdir()) == ["group1-shard1of1.bin", "model.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]  # no temporary folder left
    state, _ = convert_folder(out, "mobilenet_v1_050")
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    meta = json.loads((out / "model.json").read_text())["userDefinedMetadata"]["posenet"]
    assert meta["source_checkpoint"] == "pn050.pt" and meta["source_sha256"] == sha256_file(weights)


def test_existing_folder_needs_force(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["--format", "tfjs", "--model", "mobilenet_v1_050", "--stride", "8", "--weights", str(checkpoint[1]),
            "--out", str(out)]
    one_line_error(run_export(*args), f"--out {out}: the folder exists and is not empty (use --force to replace it)")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    result = run_export(*args, "--force")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["group1-shard1of1.bin", "model.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pn050.pt"]


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "--format = 'tflite' is not one of onnx, tfjs, web"),
    (["--format", "tfjs", "--quantize", "int4"], "--quantize = 'int4' is not one of none, float16, uint16, uint8"),
    (["--format", "onnx", "--quantize", "uint8"], "--quantize is for --format tfjs and web (ONNX: --int8)"),
    (["--format", "tfjs", "--int8"], "--int8 is for --format onnx"),
    (["--format", "tfjs", "--model", "mobilenet_v1_075", "--stride", "32"],
     "--stride = 32 is not reachable by mobilenet_v1_075 (reachable: 8, 16)"),
    (["--format", "tfjs", "--stride", "12"], "--stride = 12 is not one of"),
    (["--format", "tfjs", "--model", "resnet50"], "--model = 'resnet50' is not one of"),
    (["--format", "tfjs", "--input-size", "300"], "--input-size = 300 is not k * stride + 1 for stride 16"),
])
def test_bad_tfjs_requests_fail_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    one_line_error(run_export(*args, "--weights", "nope.pt", "--out", str(tmp_path / "out")), message)
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_that_is_not_posenet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "resnet.pt"
    torch.save({"state_dict": torch.nn.Linear(3, 2).state_dict(), "meta": {}}, other)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path, message in ((other, "weights do not fit mobilenet_v1_075"), (text, "not a readable checkpoint")):
        result = run_export("--format", "tfjs", "--weights", str(path), "--out", str(tmp_path / "out"))
        one_line_error(result, f"{path}: {message}")
        assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pt", "resnet.pt"]


# --- self-describing ONNX, run by posenet infer ------------------------------------------------------------------

PHOTO = Path(__file__).resolve().parents[1] / "data" / "images" / "multi_skiing.jpg"


def run_infer(*args: str):
    return CliRunner().invoke(infer, [*args], catch_exceptions=False)


def test_infer_runs_an_exported_onnx_file_from_its_metadata(pretrained_model, tmp_path, monkeypatch, caplog):
    """posenet infer --weights model.onnx: variant and stride from the file, ONNX Runtime, the checkpoint's poses."""
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "pretrained.pt"
    save_checkpoint(weights, pretrained_model, {"variant": "mobilenet_v1_075"})
    onnx_file = tmp_path / "pn075_s8.onnx"
    result = run_export("--format", "onnx", "--weights", str(weights), "--stride", "8", "--out", str(onnx_file))
    assert result.exit_code == 0, result.output
    meta = load_onnx_model(onnx_file).meta
    assert meta["variant"] == "mobilenet_v1_075" and meta["output_stride"] == 8
    assert meta["source_checkpoint"] == "pretrained.pt" and meta["source_sha256"] == sha256_file(weights)

    with caplog.at_level(logging.INFO):
        got = run_infer(str(PHOTO), "--weights", str(onnx_file), "--input-size", "257", "--out", "onnx",
                        "--no-render")
    assert got.exit_code == 0, got.output
    assert "(an exported ONNX file, run by ONNX Runtime)" in caplog.text
    assert "running mobilenet_v1_075 at stride 8, input 257 px (cpu, backend onnx" in caplog.text
    want = run_infer(str(PHOTO), "--weights", str(weights), "--stride", "8", "--input-size", "257", "--out", "pt",
                     "--no-render")
    assert want.exit_code == 0, want.output
    onnx_poses = poses_from_json(next(iter(json.loads((tmp_path / "onnx" / "poses.json").read_text()).values())))
    torch_poses = poses_from_json(next(iter(json.loads((tmp_path / "pt" / "poses.json").read_text()).values())))
    assert len(onnx_poses) == len(torch_poses) >= 3
    for a, b in zip(onnx_poses, torch_poses):
        assert np.abs(a.keypoints - b.keypoints).max() < 0.01 and abs(a.score - b.score) < 1e-4


def test_an_onnx_file_without_metadata_is_one_line(tmp_path):
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(onnx_bytes(create_model("mobilenet_v1_050", 16)))
    result = CliRunner().invoke(infer, [str(PHOTO), "--weights", str(plain), "--out", str(tmp_path / "out")])
    one_line_error(result, f"{plain}: no PoseNet metadata (posenet.variant missing); export the model with "
                           "`posenet export --format onnx`")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--stride", "8"], "--stride 8: {path} was exported at stride 16"),
    (["--model", "mobilenet_v1_075"], "--model mobilenet_v1_075: {path} holds mobilenet_v1_050"),
    (["--backend", "fused"], "--backend fused: {path} is an ONNX file, it runs on backend onnx"),
])
def test_options_that_contradict_the_onnx_file(tmp_path, args, message):
    model = create_model("mobilenet_v1_050", 16).eval()
    path = tmp_path / "m.onnx"
    path.write_bytes(with_metadata(onnx_bytes(model), describe_onnx(model)))
    result = CliRunner().invoke(infer, [str(PHOTO), "--weights", str(path), "--out", str(tmp_path / "out"), *args])
    one_line_error(result, message.format(path=path))


# --- web --------------------------------------------------------------------------------------------------------

def test_web_export_without_npm_is_one_line(checkpoint, tmp_path, monkeypatch):
    """The page's scripts come from npm (installed once into the user cache): without npm, one line, nothing
    written. (The page itself, in Chromium: tests/tfjs/test_web_page.py.)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POSENET_CACHE", str(tmp_path / "cache"))  # nothing installed yet
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    out = tmp_path / "page"
    result = run_export("--format", "web", "--model", "mobilenet_v1_050", "--stride", "8", "--weights",
                        str(checkpoint[1]), "--out", str(out))
    one_line_error(result, "npm is not installed (needed for the TF.js scripts of posenet export --format web)")
    assert not out.exists() and not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


# --- default output names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, extra, name", [
    ("onnx", {}, "posenet-mobilenet_v1_050-s8.onnx"),
    ("onnx", {"int8": True}, "posenet-mobilenet_v1_050-s8-int8.onnx"),
    ("tfjs", {}, "posenet-mobilenet_v1_050-s8-tfjs"),
    ("tfjs", {"quantize": "float16"}, "posenet-mobilenet_v1_050-s8-float16-tfjs"),
    ("web", {}, "posenet-mobilenet_v1_050-s8-web"),
])
def test_default_out_names_the_model_and_format(fmt, extra, name):
    assert default_out(fmt, "mobilenet_v1_050", 8, **extra) == name


def test_onnx_export_without_out_writes_a_named_file_here(checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.chdir(tmp_path)
    result = run_export("--model", "mobilenet_v1_050", "--stride", "8", "--weights", str(checkpoint[1]))
    assert result.exit_code == 0, result.output
    name = "posenet-mobilenet_v1_050-s8.onnx"
    assert result.output.startswith(f"wrote {name} (onnx, opset ") and f"from {checkpoint[1]}" in result.output
    assert load_onnx_model(tmp_path / name).meta["output_stride"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "pn050.pt"])


def test_tfjs_export_without_out_writes_a_named_folder_here(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--format", "tfjs", "--model", "mobilenet_v1_050", "--stride", "8", "--weights", str(checkpoint[1])]
    result = run_export(*args)
    assert result.exit_code == 0, result.output
    name = "posenet-mobilenet_v1_050-s8-tfjs"
    assert result.output.startswith(f"wrote {name} (TF.js graph model, mobilenet_v1_050 stride 8")
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["group1-shard1of1.bin", "model.json"]
    # a second export refuses the now non-empty folder, saying how to go on, and leaves it alone
    one_line_error(run_export(*args), f"{name}: the folder exists and is not empty (use --force to replace it, "
                                      "or --out to choose another name)")
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["group1-shard1of1.bin", "model.json"]
    result = run_export(*args, "--force")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "pn050.pt"])
