"""posenet benchmark: --quick runs anywhere (outside a project: the bundled photo, the served weights from the user
cache) and writes a new folder, never the pipeline's reports/."""

from __future__ import annotations

import json

import torch
import yaml
from click.testing import CliRunner

from posenet.commands.benchmark import BUNDLED_PHOTO, QUICK_SIZE, benchmark
from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.tfjs import write_legacy


def test_quick_benchmark_runs_outside_a_project_into_a_new_folder(tmp_path, monkeypatch):
    write_legacy(tmp_path / "tfjs_src", state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    monkeypatch.setenv("POSENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("POSENET_WEIGHTS_SOURCE", "local")
    monkeypatch.setenv("POSENET_WEIGHTS_DIR", str(tmp_path / "tfjs_src"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    (tmp_path / "cwd" / "params.yaml").write_text(yaml.safe_dump({"model": {"name": "mobilenet_v1_050"}}))
    threads = torch.get_num_threads()
    try:
        result = CliRunner().invoke(benchmark, ["--quick", "--backend", "eager", "--repeats", "1", "--device", "cpu"])
    finally:
        torch.set_num_threads(threads)  # the command sets benchmark.threads for the process: not for later tests
    assert result.exit_code == 0, result.output
    (out,) = (tmp_path / "cwd").glob("benchmark-*")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "benchmark.json", "figures/benchmark.png", "speed.json"]
    report = json.loads((out / "benchmark.json").read_text())
    assert report["photo"] == str(BUNDLED_PHOTO)
    assert [(r["variant"], r["input_size"], r["backend"]) for r in report["results"]] == [
        ("mobilenet_v1_050", QUICK_SIZE, "eager")]
    assert report["results"][0]["weights"] == str(tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt")
    assert "presets" not in report and report["ap_set"] is None
    assert json.loads((out / "speed.json").read_text()) == {
        "latency_ms": report["results"][0]["end_to_end"]["median_ms"]}
    assert f"wrote {out.name}/benchmark.json" in result.output
