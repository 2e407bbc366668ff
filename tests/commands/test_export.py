"""posenet export: ONNX files that load in ONNX Runtime and give the model's outputs; one-line errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from posenet.commands.export import export
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.runtime.onnx import OnnxBackend


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
