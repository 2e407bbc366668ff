"""Timing harness: forward, decode and end-to-end latency per variant, output stride, input size and device.

In the spirit of rwightman's ``benchmark.py`` (posenet-pytorch) and timm's benchmark script: models in
inference mode, a few warm-up runs, then ``repeats`` timed runs with ``torch.cuda.synchronize`` around CUDA
work; each timing is summarised as median and spread (p10/p90, IQR) in milliseconds plus fps.

- forward: the model on a ``[1, 3, S, S]`` tensor made from a real photo (resized, normalised), no decoding.
- decode: pose decoding (multi- or single-pose, as configured) of the real photo's maps, numpy on CPU.
- end_to_end: ``Predictor.run(image)``: preprocessing + forward + decode + scaling back, image already in
  memory.
- end_to_end_file / end_to_end_file_fitted: ``Predictor.run_file(photo)``, file on disk to poses in its pixels,
  on TF.js's path (the JPEG decoded whole, a square letterbox) / on the fast preset's path (the JPEG decoded at the
  reduced DCT scale the input size allows, posenet.io.media.read_image_reduced, the input cut to the photo's aspect
  ratio, ``input_hw_fitted``, and resized by OpenCV); ``stages`` / ``stages_fitted`` hold the median of each step
  (:data:`STAGES`: read, resize, to_tensor, forward, decode, rescale) and ``non_forward_ms`` the time outside the
  forward pass on both paths and their ratio.
- folder (optional): end to end over every photo of a folder, each read once into memory first (as the
  original script did), timed per image over ``repeats`` passes.

Backends (``posenet.runtime``) are timed side by side: every configuration builds one Predictor per backend
from the same model and times them interleaved (round r runs backend 1, 2, ... once each), on the same photo
at the same thread count, so a shared or throttled CPU slows all of them alike and the ratio against
``eager`` stays meaningful. ``ap``: COCO AP per backend on a small annotated set, optional.

``batch`` (throughput, :func:`bench_throughput`): end-to-end time per image at ``batch_threads`` threads (all
cores by default: throughput is about filling them), interleaved: one image at a time (``single``), ``batch``
copies of the photo as one forward pass (``batched``) and as one stream per thread (``streams``, the Predictor's
``streams``); ``throughput_gain`` is single / streams.

``tracking`` (:func:`bench_tracking`): the time per frame of ``posenet.tracking`` (params ``track.*``) on the photo's
decoded poses (``predict.max_poses`` of them) moving through a 30-frame sequence, per assignment, with and without
smoothing; the model is not part of it.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenet.codec.letterbox import prepare_input, to_batch
from posenet.errors import BackendError, ImageError, ParamsError
from posenet.inference.predictor import Predictor
from posenet.io.media import expand_inputs, is_video, read_image
from posenet.io.progress import progress_bar
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model
from posenet.params import Params, PredictParams
from posenet.pose import Pose
from posenet.runtime.backends import CPU_ONLY
from posenet.tracking.pipeline import VideoTracking

__all__ = ["PHASES", "SCHEMA_VERSION", "STAGES", "TRACKING_FRAMES", "BenchmarkPlan", "available_devices",
           "bench_config", "bench_folder", "bench_throughput", "bench_tracking", "build_model", "build_predictors",
           "decode_settings", "environment", "load_folder", "model_input", "run_benchmark", "speed_metrics",
           "summarize", "time_call", "time_interleaved"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
PHASES: tuple[str, ...] = ("forward", "decode", "end_to_end")
# The steps of Predictor.run_file, in order (Prediction.timings_ms).
STAGES: tuple[str, ...] = ("read", "resize", "to_tensor", "forward", "decode", "rescale")


def available_devices() -> list[str]:
    """``["cpu"]`` plus ``"cuda"`` when a CUDA device is present."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any], warmup: int, repeats: int, device: str = "cpu") -> np.ndarray:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; per-call wall times in ms ``[repeats]``."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = np.empty(repeats, dtype=np.float64)
    for i in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times[i] = (time.perf_counter() - start) * 1000.0
    return times


def summarize(times_ms: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Median, mean, p10/p25/p75/p90, min/max (ms), sample count and fps (1000 / median)."""
    t = np.asarray(times_ms, dtype=np.float64)
    p10, p25, median, p75, p90 = np.percentile(t, [10, 25, 50, 75, 90])
    return {"median_ms": float(median), "mean_ms": float(t.mean()), "p10_ms": float(p10), "p25_ms": float(p25),
            "p75_ms": float(p75), "p90_ms": float(p90), "iqr_ms": float(p75 - p25), "min_ms": float(t.min()),
            "max_ms": float(t.max()), "n": int(t.size), "fps": float(1000.0 / median) if median > 0 else float("inf")}


def model_input(image_rgb: np.ndarray, input_size: int, device: str) -> torch.Tensor:
    """A real photo as model input ``[1, 3, S, S]`` in [-1, 1] (letterboxed as the Predictor does)."""
    x, _ = prepare_input(image_rgb, (input_size, input_size))
    return to_batch([x], device)


def _decoder(predictor: Predictor, prediction: Any) -> Callable[[], Any]:
    """Decoding alone, as ``predictor`` decodes, of the maps of an earlier ``prediction``."""
    maps = (prediction.heatmap_scores, prediction.offsets, prediction.displacements_fwd, prediction.displacements_bwd)
    return lambda: predictor.decode_maps(*maps)


def decode_settings(predict: PredictParams) -> dict[str, Any]:
    """The decoding knobs a report records (params ``predict``)."""
    return {"multi_pose": predict.multi_pose, "max_poses": predict.max_poses,
            "score_threshold": predict.score_threshold, "nms_radius": predict.nms_radius}


def build_model(variant: str, stride: int, weights: str | os.PathLike | None, device: str) -> torch.nn.Module:
    """The variant with converted/trained weights when ``weights`` is a path, else randomly initialised."""
    if weights is not None:
        return load_model(variant, stride, weights=weights, device=device)
    return create_model(variant, stride).to(device).eval()


def time_interleaved(fns: dict[str, Callable[[], Any]], warmup: int, repeats: int, device: str = "cpu"
                     ) -> dict[str, np.ndarray]:
    """Per-call wall times in ms ``[repeats]`` of each function, called in turn once per round (``warmup``
    untimed rounds first) so that they share the machine's state (load, clocks, caches) as equally as possible."""
    times = {name: np.empty(repeats, dtype=np.float64) for name in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if r >= warmup:
                times[name][r - warmup] = (time.perf_counter() - start) * 1000.0
    return times


def build_predictors(model: torch.nn.Module, input_size: int | None, params: Params, device: str,
                     backends: Sequence[str], skipped: list[dict[str, str]], calibration: str | None = None,
                     streams: int = 1, preset: str = "tfjs") -> dict[str, Predictor]:
    """One Predictor per backend that can run here, with ``preset``'s settings at ``input_size`` (None: params
    ``predict.input_size``; int8 calibrated on the photos of ``calibration``); the others are logged and appended
    to ``skipped``, once per backend and device."""
    predictors = {}
    for backend in backends:
        if backend in CPU_ONLY and device != "cpu":
            continue
        try:
            predictors[backend] = Predictor.from_params(params, model=model, device=device, preset=preset,
                                                        input_size=input_size, backend=backend,
                                                        calibration=calibration, streams=streams)
        except BackendError as err:
            if not any(s["backend"] == backend and s["device"] == device for s in skipped):
                log.warning("backend %s skipped: %s", backend, err)
                skipped.append({"backend": backend, "device": device, "reason": str(err)})
    return predictors


@dataclass(frozen=True)
class BenchmarkPlan:
    """What a benchmark run times.

    variants x strides x input_sizes x devices (empty: every available device) are timed with each of
    ``backends`` side by side; ``weights`` maps variant -> checkpoint (others are timed randomly initialised:
    speed does not depend on the values, decode time may). ``batch`` > 1 adds batch throughput at
    ``batch_threads`` threads. ``ap_set`` = (COCO annotation JSON, image folder) adds AP per backend;
    ``calibration``: int8's photo folder (None: the default). ``presets`` are timed end to end (and their AP) with
    the ``folder_config`` model at ``predict.input_size`` on the first device, each on its own backend and on
    ``preset_backends``; ``folder`` (in-memory photos named
    ``folder_name``) end to end with ``folder_config`` = (variant, stride, input size).
    """

    variants: tuple[str, ...] = ("mobilenet_v1_075",)
    strides: tuple[int, ...] = (16,)
    input_sizes: tuple[int, ...] = (257, 513)
    weights: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    devices: tuple[str, ...] = ()
    warmup: int = 3
    repeats: int = 10
    backends: tuple[str, ...] = ("eager",)
    batch: int = 1
    batch_threads: int = 1
    ap_set: tuple[str, str] | None = None
    calibration: str | None = None
    presets: tuple[str, ...] = ()
    preset_backends: tuple[str, ...] = ()
    folder: Sequence[tuple[str, np.ndarray]] = ()
    folder_name: str = ""
    folder_config: tuple[str, int, int] | None = None


def bench_throughput(model: torch.nn.Module, image_rgb: np.ndarray, input_size: int, params: Params, device: str,
                     plan: BenchmarkPlan) -> dict[str, dict[str, Any]]:
    """Per backend of ``plan``, the end-to-end time per image at ``plan.batch_threads`` (>= 1) threads of one image
    at a time (``single``), ``plan.batch`` images as one forward pass (``batched``) and as ``min(batch, threads)``
    streams (``streams``; one stream on a GPU), all interleaved -> {backend: {"size", "threads", "streams_used",
    "single", "batched", "streams" (ms summaries per image), "throughput_gain" (single / streams), "batched_gain"
    (single / batched)}}."""
    backends, batch, threads, calibration = plan.backends, plan.batch, plan.batch_threads, plan.calibration
    if threads < 1:
        raise ParamsError(f"batch throughput threads = {threads} must be at least 1")
    streams = min(batch, threads) if device == "cpu" else 1
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # before the Predictors: ONNX Runtime sessions take the count at construction
    try:
        single = build_predictors(model, input_size, params, device, backends, [], calibration)
        streamed = build_predictors(model, input_size, params, device, backends, [], calibration, streams=streams)
        images = [image_rgb] * batch
        fns: dict[str, Callable[[], Any]] = {}
        for b in single:
            fns[f"{b}/single"] = lambda p=single[b]: p.run_batch(images[:1])
            fns[f"{b}/batched"] = lambda p=single[b]: p.run_batch(images)
            fns[f"{b}/streams"] = lambda p=streamed[b]: p.run_batch(images)
        times = time_interleaved(fns, plan.warmup, plan.repeats, device)
    finally:
        torch.set_num_threads(previous)
    results = {}
    for b in single:
        per_image = {"single": summarize(times[f"{b}/single"]), "batched": summarize(times[f"{b}/batched"] / batch),
                     "streams": summarize(times[f"{b}/streams"] / batch)}
        ms = {mode: summary["median_ms"] for mode, summary in per_image.items()}
        results[b] = {"size": batch, "threads": threads, "streams_used": streams, **per_image,
                      "throughput_gain": ms["single"] / ms["streams"], "batched_gain": ms["single"] / ms["batched"]}
    return results


def _stage_medians(runs: Sequence[Any]) -> dict[str, float]:
    """Median ms of each step of :data:`STAGES` over Predictions of ``Predictor.run_file``."""
    return {stage: float(np.median([r.timings_ms[stage] for r in runs])) for stage in STAGES}


def bench_config(model: torch.nn.Module, image_rgb: np.ndarray, input_size: int, params: Params, device: str,
                 plan: BenchmarkPlan, skipped: list[dict[str, str]] | None = None, photo: str | None = None
                 ) -> list[dict[str, Any]]:
    """Time forward, decode and end to end (and batch throughput, AP) of every backend of ``plan`` for one model at
    one input size on one device, backends interleaved -> one entry per backend that can run here (the others
    are appended to ``skipped``). With the file ``photo`` (of ``image_rgb``), also end to end from the file on
    TF.js's path (``end_to_end_file``) and on the fast preset's path (``end_to_end_file_fitted``: reduced JPEG
    decode, input cut to the photo, OpenCV resize), each with the median of every step (``stages``,
    ``stages_fitted``) and the time outside the forward pass (``non_forward_ms``)."""
    warmup, repeats, ap_set = plan.warmup, plan.repeats, plan.ap_set
    x = model_input(image_rgb, input_size, device)
    predictors = build_predictors(model, input_size, params, device, plan.backends,
                                  skipped if skipped is not None else [], plan.calibration)
    with torch.inference_mode():
        forward = time_interleaved({b: (lambda p=p: p.forward(x)) for b, p in predictors.items()},
                                   warmup, repeats, device)
        predictions = {b: p.run(image_rgb) for b, p in predictors.items()}
        decode = time_interleaved({b: _decoder(p, predictions[b]) for b, p in predictors.items()},
                                  warmup, repeats)
        runs: dict[str, list[Any]] = {}
        fns: dict[str, Callable[[], Any]] = {}
        for b, p in predictors.items():
            fns[b] = lambda p=p: p.run(image_rgb)
            if photo:
                fitted = Predictor(model, p.config.replace(reduced_decode=True, fit_aspect=True, opencv_resize=True),
                                   device=device)
                for mode, predictor in (("full", p), ("fitted", fitted)):
                    runs[f"{b}/{mode}"] = []
                    fns[f"{b}/{mode}"] = lambda b=b, p=predictor, m=mode: runs[f"{b}/{m}"].append(p.run_file(photo))
        times = time_interleaved(fns, warmup, repeats, device)
    throughput = {}
    if plan.batch > 1:
        throughput = bench_throughput(model, image_rgb, input_size, params, device,
                                      replace(plan, backends=tuple(predictors), warmup=1, repeats=max(3, repeats // 2)))
    entries = []
    for b, predictor in predictors.items():
        entry: dict[str, Any] = {
            "backend": b, "forward": summarize(forward[b]), "decode": summarize(decode[b]),
            "end_to_end": summarize(times[b]), "poses_found": len(predictions[b].poses),
            "output_hw": list(predictions[b].heatmap_scores.shape[:2])}
        if photo:
            full, fitted = runs[f"{b}/full"][warmup:], runs[f"{b}/fitted"][warmup:]
            entry.update({
                "end_to_end_file": summarize(times[f"{b}/full"]),
                "end_to_end_file_fitted": summarize(times[f"{b}/fitted"]),
                "stages": _stage_medians(full), "stages_fitted": _stage_medians(fitted),
                "image_factor": fitted[0].image_factor, "input_hw_fitted": list(fitted[0].letterbox.input_hw)})
            non_forward = {mode: float(np.median(times[f"{b}/{mode}"])) - entry[key]["forward"]
                           for mode, key in (("full", "stages"), ("fitted", "stages_fitted"))}
            entry["non_forward_ms"] = {**non_forward, "gain": non_forward["full"] / non_forward["fitted"]}
        if b in throughput:
            entry["batch"] = throughput[b]
        if ap_set is not None:
            from posenet.evaluation.coco import evaluate_predictor

            entry["ap"] = evaluate_predictor(predictor, *ap_set)[0]
        entries.append(entry)
    eager = next((e for e in entries if e["backend"] == "eager"), None)
    for entry in entries:
        if eager is not None:
            entry["vs_eager"] = {phase: eager[phase]["median_ms"] / entry[phase]["median_ms"]
                                 for phase in ("forward", "end_to_end")}
            if "ap" in entry:
                entry["vs_eager"]["ap_drop"] = eager["ap"]["AP"] - entry["ap"]["AP"]
    return entries


def bench_presets(model: torch.nn.Module, image_rgb: np.ndarray, params: Params, presets: Sequence[str], device: str,
                  warmup: int, repeats: int, ap_set: tuple[str, str] | None = None, photo: str | None = None,
                  backends: Sequence[str] = (), calibration: str | None = None,
                  skipped: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """End to end (and AP) of each Predictor preset at ``predict.input_size`` (posenet.inference.presets: the
    preset picks its backend and how files are decoded) on its own backend and on each of ``backends`` (int8
    calibrated on ``calibration``; backends that cannot run here are appended to ``skipped``), all interleaved on
    one photo: from its file ``photo`` when given (``Predictor.run_file``), else from ``image_rgb``. ``vs_tfjs`` is
    the speed-up against the ``tfjs`` preset on its own backend when timed; ``own_backend`` marks the preset's."""
    predictors: dict[tuple[str, str], Predictor] = {}
    own_keys = set()
    for preset in presets:
        own = Predictor.from_params(params, model=model, device=device, preset=preset)
        predictors[preset, own.config.backend] = own
        own_keys.add((preset, own.config.backend))
        others = [b for b in backends if b != own.config.backend]
        predictors.update({(preset, b): p for b, p in build_predictors(
            model, None, params, device, others, skipped if skipped is not None else [], calibration,
            preset=preset).items()})
    with torch.inference_mode():
        times = time_interleaved({key: (lambda p=p: p.run_file(photo)) if photo else (lambda p=p: p.run(image_rgb))
                                  for key, p in predictors.items()}, warmup, repeats, device)
    reference = next((key for key in own_keys if key[0] == "tfjs"), None)
    entries = []
    for (preset, backend), predictor in predictors.items():
        entry: dict[str, Any] = {"preset": preset, "backend": backend,
                                 "own_backend": (preset, backend) in own_keys,
                                 "input_hw": [list(predictor.input_hw_for(image_rgb.shape[:2], hw))
                                              for hw in predictor.scale_hws],
                                 "fit_aspect": predictor.config.fit_aspect, "flip": predictor.config.flip,
                                 "end_to_end": summarize(times[preset, backend]), "from_file": bool(photo)}
        if reference is not None:
            entry["vs_tfjs"] = float(np.median(times[reference]) / np.median(times[preset, backend]))
        if ap_set is not None:
            from posenet.evaluation.coco import evaluate_predictor

            entry["ap"] = evaluate_predictor(predictor, *ap_set)[0]
        entries.append(entry)
    return entries


TRACKING_FRAMES = 30


def bench_tracking(poses: Sequence[Pose], image_hw: tuple[int, int], params: Params, warmup: int, repeats: int
                   ) -> dict[str, Any]:
    """Time per frame (ms) of tracking ``poses`` (one frame's, image px) through TRACKING_FRAMES frames at 30 fps
    in which every person walks 3 px right and 1 px down per frame and each keypoint moves by 1.5 px of noise
    (seeded): a fresh tracker per pass, the first frame (no track yet) not timed, ``warmup`` passes untimed, then
    ``repeats``. Settings: params ``track.*`` with each assignment, and the default one with smoothing. Each
    setting's wall-time statistics, and ``cpu_median_ms``: the median CPU time of the calling thread (tracking is
    single-threaded; on a shared machine the wall time also counts the waits for a core)."""
    rng = np.random.default_rng(0)
    frames = [[Pose(p.score, p.keypoints + (3.0 * f, 1.0 * f) + rng.normal(0, 1.5, p.keypoints.shape),
                    p.keypoint_scores) for p in poses] for f in range(TRACKING_FRAMES)]
    size = (image_hw[1], image_hw[0])
    settings = {"optimal": {"assignment": "optimal"}, "greedy": {"assignment": "greedy"},
                "optimal_smoothed": {"assignment": "optimal", "smooth": True}}
    entry: dict[str, Any] = {"poses": len(poses), "frames": TRACKING_FRAMES, "similarity": params.track.similarity}
    for name, options in settings.items():
        times: list[float] = []
        cpu: list[float] = []
        for n in range(warmup + repeats):
            tracking = VideoTracking(**{**params.track.options(), **options})
            tracking(frames[0], 0.0, size)
            for f in range(1, TRACKING_FRAMES):
                start, start_cpu = time.perf_counter(), time.thread_time()
                tracking(frames[f], f / 30.0, size)
                if n >= warmup:
                    times.append((time.perf_counter() - start) * 1000.0)
                    cpu.append((time.thread_time() - start_cpu) * 1000.0)
        entry[name] = {**summarize(times), "cpu_median_ms": float(np.median(cpu))}
    return entry


def load_folder(folder: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """Every still image of ``folder`` read into memory (name, RGB uint8); ImageError when none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder of images")
    paths = [p for p in expand_inputs([folder]) if not is_video(p)]
    if not paths:
        raise ImageError(f"{folder}: no images found")
    return [(p.name, read_image(p)) for p in paths]


def bench_folder(model: torch.nn.Module, images: Sequence[tuple[str, np.ndarray]], input_size: int,
                 params: Params, device: str, warmup: int, repeats: int) -> dict[str, Any]:
    """End-to-end time per image over ``repeats`` passes through an in-memory folder of photos."""
    predictor = Predictor.from_params(params, model=model, device=device, preset="tfjs", input_size=input_size,
                                      backend="eager")
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup):
            predictor(images[0][1])
        for _ in range(repeats):
            for _name, image in images:
                times.extend(time_call(lambda image=image: predictor(image), 0, 1, device).tolist())
    total_s = sum(times) / 1000.0
    return {"end_to_end": summarize(times), "images": len(images),
            "average_fps": float(len(times) / total_s) if total_s > 0 else float("inf")}


def environment() -> dict[str, Any]:
    """Host facts that explain the numbers: torch version, thread counts, CPU load, CPU and GPU names."""
    env: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                           "platform": platform.platform(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(),
                           "torch_interop_threads": torch.get_num_interop_threads(),
                           "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                           "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name(0)
        env["cuda_version"] = torch.version.cuda
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _config(variant: str, stride: int, size: int, device: str, weights: Mapping[str, str | os.PathLike]
            ) -> dict[str, Any]:
    """The fields naming one timed configuration; ``weights`` is the checkpoint path or ``"random"``."""
    return {"variant": variant, "stride": stride, "input_size": size, "device": device,
            "weights": str(weights[variant]) if variant in weights else "random"}


def run_benchmark(plan: BenchmarkPlan, image_rgb: np.ndarray, params: Params, photo: str = "") -> dict[str, Any]:
    """The whole benchmark of ``plan`` on the photo ``image_rgb`` (named ``photo``) as a JSON-ready dict. Backends
    that cannot run here are listed in ``skipped`` with the reason."""
    variants, strides, input_sizes, weights = plan.variants, plan.strides, plan.input_sizes, plan.weights
    warmup, repeats, ap_set = plan.warmup, plan.repeats, plan.ap_set
    devices = list(plan.devices or available_devices())
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    steps = len(devices) * len(variants) * len(strides) * len(input_sizes) + 1 + bool(plan.presets) \
        + bool(plan.folder) * len(devices)  # configurations, tracking, presets, folder
    bar = progress_bar(total=steps, unit="config", leave=False)
    for device in devices:
        for variant in variants:
            for stride in strides:
                model = build_model(variant, stride, weights.get(variant), device)
                for size in input_sizes:
                    _timing(bar, f"{variant} s{stride} {size}px {device} ({', '.join(plan.backends)})")
                    for entry in bench_config(model, image_rgb, size, params, device, plan, skipped, photo or None):
                        results.append({**_config(variant, stride, size, device, weights), **entry})
                    bar.update()
    report: dict[str, Any] = {"schema": SCHEMA_VERSION, "environment": environment(), "photo": photo,
                              "photo_hw": list(image_rgb.shape[:2]), "warmup": warmup, "repeats": repeats,
                              "decode": decode_settings(params.predict), "backends": list(plan.backends),
                              "batch": plan.batch, "batch_threads": plan.batch_threads,
                              "ap_set": list(ap_set) if ap_set else None, "skipped": skipped, "results": results}
    variant, stride, size = plan.folder_config or (variants[0], strides[0], input_sizes[0])
    _timing(bar, f"tracking ({params.track.similarity})")
    model = build_model(variant, stride, weights.get(variant), devices[0])
    with torch.inference_mode():
        poses = Predictor.from_params(params, model=model, device=devices[0], preset="tfjs")(image_rgb)
    report["tracking"] = bench_tracking(poses, image_rgb.shape[:2], params, warmup, repeats)
    bar.update()
    if plan.presets:
        _timing(bar, f"presets {', '.join(plan.presets)} ({variant} s{stride} {devices[0]})")
        model = build_model(variant, stride, weights.get(variant), devices[0])
        report["presets"] = [{**_config(variant, stride, params.predict.input_size, devices[0], weights), **entry}
                             for entry in bench_presets(model, image_rgb, params, plan.presets, devices[0], warmup,
                                                        repeats, ap_set, photo or None, plan.preset_backends,
                                                        plan.calibration, skipped)]
        bar.update()
    if plan.folder:
        report["folder"] = []
        for device in devices:
            _timing(bar, f"folder {plan.folder_name} ({variant} s{stride} {size}px {device})")
            model = build_model(variant, stride, weights.get(variant), device)
            entry = {"folder": plan.folder_name, **_config(variant, stride, size, device, weights)}
            entry.update(bench_folder(model, plan.folder, size, params, device, warmup, repeats))
            report["folder"].append(entry)
            bar.update()
    bar.close()
    return report


def _timing(bar: Any, what: str) -> None:
    """Name the configuration being timed: on the progress bar, and in the log when no bar is drawn."""
    bar.set_description_str(what)
    if bar.disable:
        log.info("timing %s", what)


def speed_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The headline of a report, the DVC metric: ``latency_ms``, the median end-to-end ms of its first configuration
    on the eager backend (the first backend timed when eager is not). One key on purpose, so that ``dvc metrics
    show`` fits a 120-column terminal; every statistic (each configuration, backend, preset, AP, tracking) is in the
    full report, which is not a metric (training throughput too: ``training``)."""
    results = report["results"]
    headline = next((r for r in results if r["backend"] == "eager"), results[0] if results else None)
    return {"latency_ms": headline["end_to_end"]["median_ms"]} if headline else {}
