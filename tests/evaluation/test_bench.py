"""posenet.evaluation.benchmark: timing statistics, the benchmark report schema and its figure (tiny random models)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from posenet.errors import ImageError, ParamsError
from posenet.evaluation import benchmark as bench
from posenet.io.media import read_image
from posenet.params import Params
from posenet.viz import benchmark, figures

DATA = Path(__file__).parents[1] / "data" / "coco_tiny"
PHOTO = DATA / "images" / "000000196141.jpg"
FITTED_HW = {33: [33, 33], 49: [33, 49]}  # the 640 x 429 photo's inputs cut to its aspect ratio, per input size


def test_summarize_percentiles_and_fps():
    s = bench.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["median_ms"] == 3.0 and s["mean_ms"] == 3.0 and s["n"] == 5
    assert s["min_ms"] == 1.0 and s["max_ms"] == 5.0
    assert s["p10_ms"] == pytest.approx(1.4) and s["p90_ms"] == pytest.approx(4.6)
    assert s["iqr_ms"] == pytest.approx(2.0)
    assert s["fps"] == pytest.approx(1000.0 / 3.0)


def test_time_call_counts_warmup_and_repeats():
    calls = []
    times = bench.time_call(lambda: calls.append(1), warmup=2, repeats=5)
    assert len(calls) == 7
    assert times.shape == (5,) and np.all(times >= 0)


def _check_stats(stats: dict) -> None:
    for key in ("median_ms", "mean_ms", "p10_ms", "p90_ms", "iqr_ms", "fps"):
        assert math.isfinite(stats[key]), key
    assert 0 < stats["p10_ms"] <= stats["median_ms"] <= stats["p90_ms"]
    assert stats["fps"] > 0


@pytest.fixture(scope="module")
def tiny_report():
    image = read_image(PHOTO)
    folder = bench.load_folder(DATA / "images")
    plan = bench.BenchmarkPlan(variants=("mobilenet_v1_050",), strides=(16,), input_sizes=(33, 49), devices=("cpu",),
                               warmup=1, repeats=3, folder=folder, folder_name="coco_tiny",
                               folder_config=("mobilenet_v1_050", 16, 33), batch=3, batch_threads=2)
    return bench.run_benchmark(plan, image, Params(), photo=str(PHOTO))


def test_presets_are_timed_on_their_own_backends_against_tfjs():
    import dataclasses

    params = Params()
    params = dataclasses.replace(params, predict=dataclasses.replace(params.predict, input_size=33))
    plan = bench.BenchmarkPlan(variants=("mobilenet_v1_050",), strides=(16,), input_sizes=(33,), devices=("cpu",),
                               warmup=0, repeats=2, presets=("tfjs", "fast", "accurate"),
                               preset_backends=("fused", "onnx"))
    report = bench.run_benchmark(plan, read_image(PHOTO), params, photo=str(PHOTO))
    # each preset on its own backend first, then on the others: fast's and accurate's own is int8
    assert [(e["preset"], e["backend"], e["own_backend"]) for e in report["presets"]] == [
        ("tfjs", "eager", True), ("tfjs", "fused", False), ("tfjs", "onnx", False), ("fast", "int8", True),
        ("fast", "fused", False), ("fast", "onnx", False), ("accurate", "int8", True), ("accurate", "fused", False),
        ("accurate", "onnx", False)]
    assert all(e["from_file"] for e in report["presets"])
    tfjs_ms = report["presets"][0]["end_to_end"]["median_ms"]
    assert all(e["vs_tfjs"] == pytest.approx(tfjs_ms / e["end_to_end"]["median_ms"]) for e in report["presets"])
    by_name = {e["preset"]: e for e in report["presets"] if e["own_backend"]}
    assert by_name["tfjs"]["backend"] == "eager" and by_name["tfjs"]["vs_tfjs"] == 1.0
    # the inputs that ran on the photo: 1.25 x 33 rounds down to 33; 49 and 65 are cut to its aspect ratio
    assert by_name["fast"]["input_hw"] == [[33, 33]] and by_name["fast"]["fit_aspect"]
    assert by_name["accurate"]["flip"] and by_name["accurate"]["input_hw"] == [[33, 49], [49, 65]]
    assert all(e["input_size"] == 33 and e["end_to_end"]["median_ms"] > 0 for e in report["presets"])


def test_report_schema_and_numbers(tiny_report):
    r = tiny_report
    assert r["schema"] == bench.SCHEMA_VERSION
    assert r["environment"]["torch_threads"] >= 1 and r["environment"]["cuda"] in (True, False)
    assert r["repeats"] == 3 and r["photo_hw"] == list(read_image(PHOTO).shape[:2])
    assert [(e["variant"], e["stride"], e["input_size"], e["device"]) for e in r["results"]] == [
        ("mobilenet_v1_050", 16, 33, "cpu"), ("mobilenet_v1_050", 16, 49, "cpu")]
    for entry in r["results"]:
        assert entry["weights"] == "random"
        assert entry["output_hw"] == [(entry["input_size"] - 1) // 16 + 1] * 2
        for phase in (*bench.PHASES, "end_to_end_file", "end_to_end_file_fitted"):
            _check_stats(entry[phase])
            assert entry[phase]["n"] == 3
        # every step of Predictor.run_file; at 33 px the 640 px photo is decoded at 1/8 on the presets' path
        assert list(entry["stages"]) == list(entry["stages_fitted"]) == list(bench.STAGES)
        assert all(v > 0 for v in (*entry["stages"].values(), *entry["stages_fitted"].values()))
        assert entry["image_factor"] == 8 and entry["input_hw_fitted"] == FITTED_HW[entry["input_size"]]
        non_forward = entry["non_forward_ms"]
        assert non_forward["full"] == pytest.approx(
            entry["end_to_end_file"]["median_ms"] - entry["stages"]["forward"])
        assert non_forward["gain"] == non_forward["full"] / non_forward["fitted"]
        batch = entry["batch"]
        assert (batch["size"], batch["threads"], batch["streams_used"]) == (3, 2, 2) and r["batch_threads"] == 2
        for mode in ("single", "batched", "streams"):
            _check_stats(batch[mode])
        assert batch["throughput_gain"] == batch["single"]["median_ms"] / batch["streams"]["median_ms"]
    (folder,) = r["folder"]
    assert folder["images"] == 2 and folder["end_to_end"]["n"] == 2 * 3
    assert {k: folder[k] for k in ("folder", "variant", "stride", "input_size", "device", "weights")} == {
        "folder": "coco_tiny", "variant": "mobilenet_v1_050", "stride": 16, "input_size": 33, "device": "cpu",
        "weights": "random"}
    _check_stats(folder["end_to_end"])
    assert folder["average_fps"] > 0
    tracking = r["tracking"]
    assert tracking["frames"] == bench.TRACKING_FRAMES and tracking["similarity"] == "oks"
    for setting in ("optimal", "greedy", "optimal_smoothed"):
        assert tracking[setting]["n"] == 3 * (bench.TRACKING_FRAMES - 1)
    assert bench.speed_metrics(r) == {"latency_ms": r["results"][0]["end_to_end"]["median_ms"]}  # eager, first


def test_tracking_is_timed_on_real_poses():
    """Ten real poses (the people TF.js PoseNet found in real photos) tracked frame after frame."""
    import json

    from reference_cases import LOCAL

    from posenet.pose import poses_from_json

    poses = [p for f in sorted(LOCAL.glob("*.poses.json")) for p in poses_from_json(json.loads(f.read_text())
                                                                                      ["multi_poses"])][:10]
    entry = bench.bench_tracking(poses, (1000, 1000), Params(), warmup=1, repeats=2)
    assert entry["poses"] == 10
    for setting in ("optimal", "greedy", "optimal_smoothed"):
        _check_stats(entry[setting])
        assert entry[setting]["n"] == 2 * (bench.TRACKING_FRAMES - 1) and entry[setting]["cpu_median_ms"] > 0


def test_throughput_timing_restores_the_thread_count():
    from posenet.models.mobilenet import create_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan = bench.BenchmarkPlan(batch=2, batch_threads=2, warmup=0, repeats=1)
        result = bench.bench_throughput(create_model("mobilenet_v1_050", 16), read_image(PHOTO), 33, Params(), "cpu",
                                        plan)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert list(result) == ["eager"] and result["eager"]["threads"] == 2 and result["eager"]["streams"]["n"] == 1
    with pytest.raises(ParamsError, match="threads = 0"):
        bench.bench_throughput(create_model("mobilenet_v1_050", 16), read_image(PHOTO), 33, Params(), "cpu",
                               bench.BenchmarkPlan(batch=2, batch_threads=0, warmup=0, repeats=1))


def test_plot_benchmark_writes_a_png(tiny_report, tmp_path):
    path = tmp_path / "figures" / "benchmark.png"
    figure = benchmark.benchmark_figure(tiny_report)
    assert [ax.get_ylabel() for ax in figure.axes] == ["end to end per image (ms)", "forward per image (ms)",
                                                       "images per second"]
    figures.save_figure(figure, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["benchmark.png"]  # no temp files left


def test_load_folder_errors(tmp_path):
    with pytest.raises(ImageError, match="no images"):
        bench.load_folder(tmp_path)
    with pytest.raises(ImageError, match="not a folder"):
        bench.load_folder(tmp_path / "missing")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_timings():
    plan = bench.BenchmarkPlan(variants=("mobilenet_v1_050",), strides=(16,), input_sizes=(33,), devices=("cuda",),
                               warmup=1, repeats=3)
    report = bench.run_benchmark(plan, read_image(PHOTO), Params())
    (entry,) = report["results"]
    assert entry["device"] == "cuda" and report["environment"]["cuda_device"]
    for phase in bench.PHASES:
        _check_stats(entry[phase])


def test_a_backend_that_cannot_run_is_skipped_once_per_device(caplog):
    """Every input size and preset builds its Predictors through build_predictors: a backend this machine cannot
    run is logged and listed once, not once per configuration."""
    from posenet.device import cpu_flags
    from posenet.models.mobilenet import create_model
    from posenet.runtime.bf16 import BF16_CPU_FLAGS

    if cpu_flags() & set(BF16_CPU_FLAGS):
        pytest.skip("this CPU runs bf16")
    model = create_model("mobilenet_v1_050", 16).eval()
    skipped: list = []
    with caplog.at_level("WARNING"):
        for size, preset in ((33, "tfjs"), (49, "tfjs"), (None, "fast")):
            built = bench.build_predictors(model, size, Params(), "cpu", ("eager", "bf16"), skipped, preset=preset)
            assert list(built) == ["eager"]
    assert [(s["backend"], s["device"]) for s in skipped] == [("bf16", "cpu")]
    assert caplog.text.count("backend bf16 skipped") == 1
    assert built["eager"].config.fit_aspect and built["eager"].input_hw == (513, 513)  # fast at predict.input_size
