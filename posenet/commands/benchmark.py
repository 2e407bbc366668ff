"""``posenet benchmark`` (the benchmark stage): forward / decode / end-to-end latency -> ``OUT/benchmark.json``
(every statistic), ``OUT/speed.json`` (the headline medians; the stage's ``--out reports`` makes it a DVC metric)
and ``OUT/figures/benchmark.png``. ``OUT`` defaults to a new folder ``benchmark-<date>-<time>``.

    posenet benchmark --quick           # under a minute: the served model, one size, the fast backends

Reads params.yaml sections ``benchmark`` (variants, strides, input sizes, warm-up, repeats, photo, images,
backends timed side by side, batch size and threads, the small annotated set for AP per backend, training
throughput), ``model`` (the converted variant, timed with its real weights), ``predict`` (decoding settings) and
``targets`` / ``train`` (training size, batch, threads of the training-throughput timing).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.constants import BACKEND_NAMES
from posenet.errors import ParamsError
from posenet.params import load_params
from posenet.project import find_project

__all__ = ["benchmark"]

log = logging.getLogger("posenet.benchmark")

QUICK_SIZE = 257
QUICK_BACKENDS: tuple[str, ...] = ("eager", "fused", "onnx")  # no seconds-long build (int8) or special CPU (bf16)
QUICK_REPEATS = 5
BUNDLED_PHOTO = Path(__file__).resolve().parents[1] / "assets" / "multi_skiing.jpg"  # package data: runs anywhere


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder: benchmark.json (every statistic), speed.json (the headline medians), "
                   "figures/benchmark.png [default: a new folder benchmark-<date>-<time>; the DVC stage: reports].")
@click.option("--quick", is_flag=True,
              help=f"Under a minute: model.name only, at {QUICK_SIZE} px, backends {', '.join(QUICK_BACKENDS)}, "
                   f"{QUICK_REPEATS} repeats; no batch, presets, folder, AP or training.")
@click.option("--weights", default=None, type=click.Path(dir_okay=False),
              help="Checkpoint of model.name [default: the model `posenet infer` serves; other variants are timed "
                   "with random weights].")
@click.option("--images", default=None, type=click.Path(file_okay=False),
              help="Also time a folder of real photos end to end [default: benchmark.images].")
@click.option("--photo", default=None, type=click.Path(dir_okay=False),
              help="Photo for decode / end-to-end timings [default: benchmark.photo; where that is missing, a photo "
                   "bundled with posenet].")
@click.option("--device", "devices", multiple=True, type=click.Choice(["cpu", "cuda"]),
              help="Devices to time (repeatable) [default: cpu, plus cuda when present].")
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Timed runs [default: benchmark.repeats].")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="Warm-up runs [default: benchmark.warmup].")
@click.option("--backend", "backends", multiple=True, type=click.Choice(BACKEND_NAMES),
              help="Backends to time side by side (repeatable) [default: benchmark.backends].")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Images per forward pass for the batch throughput (1: skip) [default: benchmark.batch].")
@logging_options
@user_errors
def benchmark(params_path: str | None, out_dir: str | None, quick: bool, weights: str | None, images: str | None,
              photo: str | None, devices: tuple[str, ...], repeats: int | None, warmup: int | None,
              backends: tuple[str, ...], batch: int | None) -> None:
    """Time PoseNet forward, decode and end to end for every configured variant, stride, input size and backend."""
    import torch  # the heavy modules load once the arguments are known to be good: `--help` stays fast

    from posenet.evaluation.benchmark import (
        BenchmarkPlan,
        available_devices,
        build_model,
        load_folder,
        run_benchmark,
        speed_metrics,
    )
    from posenet.io.atomic import write_json_atomic
    from posenet.io.media import read_image
    from posenet.models.factory import default_model_file
    from posenet.training.speed import bench_training
    from posenet.viz.benchmark import benchmark_figure
    from posenet.viz.figures import save_figure

    params = load_params(params_path)
    bench, predict = params.benchmark, params.predict
    if "cuda" in devices and "cuda" not in available_devices():
        raise ParamsError("--device cuda: no CUDA device is available")
    # the served model's real weights (posenet.models.factory's rule); the other variants time random weights
    weights_map = {params.model.name: str(default_model_file(params.model.name, weights,
                                                             **params.weights.fetch_options()))}
    batch_threads = bench.batch_threads or torch.get_num_threads()  # PyTorch's default: all cores
    if bench.threads:
        torch.set_num_threads(bench.threads)  # ONNX Runtime sessions take the same count (posenet.runtime.onnx)
    photo_path = photo or _project_file(bench.photo)
    if not Path(photo_path).is_file() and photo is None:
        log.info("%s not found: timing on the bundled photo %s", bench.photo, BUNDLED_PHOTO)
        photo_path = BUNDLED_PHOTO
    image = read_image(photo_path)
    folder_dir = images if images is not None else None if quick else bench.images
    folder = load_folder(folder_dir) if folder_dir else None
    ap_set = None
    if bench.ap_annotations and not quick:
        if Path(bench.ap_annotations).is_file():
            ap_set = (bench.ap_annotations, bench.ap_images)
        else:
            log.warning("%s not found: no AP per backend (run `dvc repro fetch_annotations`)", bench.ap_annotations)
    plan = BenchmarkPlan(variants=(params.model.name,) if quick else tuple(bench.variants),
                         strides=(params.model.stride,) if quick else tuple(bench.strides),
                         input_sizes=(QUICK_SIZE,) if quick else tuple(bench.input_sizes), weights=weights_map,
                         devices=tuple(devices), warmup=(1 if quick else bench.warmup) if warmup is None else warmup,
                         repeats=(QUICK_REPEATS if quick else bench.repeats) if repeats is None else repeats,
                         backends=tuple(backends) or (QUICK_BACKENDS if quick else tuple(bench.backends)),
                         batch=(1 if quick else bench.batch) if batch is None else batch, batch_threads=batch_threads,
                         ap_set=ap_set, calibration=predict.calibration,
                         presets=() if quick else tuple(bench.presets), preset_backends=tuple(bench.preset_backends),
                         folder=folder or (),
                         folder_name=str(folder_dir),
                         folder_config=(params.model.name, params.model.stride, predict.input_size))
    out = Path(out_dir) if out_dir is not None else Path(time.strftime("benchmark-%Y%m%d-%H%M%S"))
    report = run_benchmark(plan, image, params, photo=str(photo_path))
    if bench.training and not quick:
        report["training"] = [
            bench_training(build_model(params.model.name, params.model.stride, weights_map.get(params.model.name),
                                       device), image, params, device, plan.warmup, plan.repeats)
            for device in devices or available_devices()]
    write_json_atomic(out / "benchmark.json", report)
    write_json_atomic(out / "speed.json", speed_metrics(report))
    save_figure(benchmark_figure(report), out / "figures" / "benchmark.png", dpi=120)
    for r in report["results"]:
        log.info("%s s%d %dpx %s %s: forward %.1f ms, decode %.1f ms, end-to-end %.1f ms (%.1f fps)%s%s%s%s",
                 r["variant"], r["stride"], r["input_size"], r["device"], r["backend"], r["forward"]["median_ms"],
                 r["decode"]["median_ms"], r["end_to_end"]["median_ms"], r["end_to_end"]["fps"],
                 f"; from the file {r['end_to_end_file']['median_ms']:.1f} ms, "
                 f"{r['end_to_end_file_fitted']['median_ms']:.1f} ms decoded at 1/{r['image_factor']} and fitted "
                 f"(outside the forward pass {r['non_forward_ms']['gain']:.2f}x less)" if "stages" in r else "",
                 f", {r['vs_eager']['end_to_end']:.2f}x eager" if "vs_eager" in r else "",
                 f", batch {r['batch']['size']} on {r['batch']['threads']} threads: "
                 f"{r['batch']['throughput_gain']:.2f}x throughput"
                 if "batch" in r else "",
                 f", AP {r['ap']['AP']:.3f}" if "ap" in r else "")
    for r in report.get("presets", []):
        log.info("preset %s (%s backend, inputs %s%s): end-to-end %.1f ms%s%s", r["preset"], r["backend"],
                 r["input_hw"], ", flip" if r["flip"] else "", r["end_to_end"]["median_ms"],
                 f", {r['vs_tfjs']:.2f}x tfjs" if "vs_tfjs" in r else "",
                 f", AP {r['ap']['AP']:.3f}" if "ap" in r else "")
    for t in report.get("training", []):
        log.info("training steps at %dpx, batch %d, %d thread(s) on %s: %s%s", t["input_size"], t["batch"],
                 t["threads"], t["device"], ", ".join(f"{p} {m['images_per_s']:.1f} images/s"
                                                      for p, m in t["precisions"].items()),
                 "".join(f"; {p} not timed: {why}" for p, why in t["skipped"].items()))
    for f in report.get("folder", []):
        log.info("folder %s (%d images) on %s: %.1f ms per image, %.1f fps", f["folder"], f["images"], f["device"],
                 f["end_to_end"]["median_ms"], f["average_fps"])
    click.echo(f"wrote {out / 'benchmark.json'}, {out / 'speed.json'} and {out / 'figures' / 'benchmark.png'}")


def _project_file(path: str) -> str:
    """A relative params path (``benchmark.photo``) in the project, wherever in it the command runs."""
    root = find_project()
    return str(root / path) if root is not None and not Path(path).is_absolute() else path
