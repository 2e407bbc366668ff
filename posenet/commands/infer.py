"""``posenet infer``: poses on images, folders, globs, videos or a webcam; JSON, overlays, annotated videos.

    posenet infer photo.jpg photos/ "shots/*.png" clip.mp4 --out out/
    posenet infer clip.mp4 --track --smooth --out out/
    posenet infer --webcam 0 --max-frames 300 --track --out out/
    posenet infer coco/images --format coco --coco-annotations coco/annotations.json --out out/

(``python stages/infer.py ...`` is the same command.)
Defaults come from params.yaml (``model``, ``predict`` and ``track``); options override them. Bad inputs are named
on stderr one per line, the others are still processed, and the exit code is 2 at the end.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.constants import BACKEND_NAMES, MIN_PART_SCORE, VALID_STRIDES
from posenet.errors import ParamsError
from posenet.params import MODEL_NAMES, PREDICT_PRESETS, check_input_size, load_params

__all__ = ["infer"]

log = logging.getLogger("posenet.apps.inferencer")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out", show_default=True,
              help="Output folder (poses.json / coco_results.json, overlays, annotated videos).")
@click.option("--webcam", type=int, default=None, help="Also read this webcam index (e.g. 0).")
@click.option("--max-frames", type=click.IntRange(min=0), default=0, show_default=True,
              help="Stop each video/webcam after this many frames (0: all; webcam: until Ctrl-C).")
@params_option
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), default=None, help="[params model.name]")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint .pt, or an ONNX file from `posenet export --format onnx` (run by ONNX Runtime) "
                   "[default: inside a project (a folder or parent with dvc.yaml and models/), its "
                   "trained model when it is a <model>, else its pretrained one; outside, Google's pretrained "
                   "weights, fetched once into the user cache]")
@click.option("--stride", type=click.Choice([str(s) for s in VALID_STRIDES]), default=None,
              help="Output stride [params model.stride]")
@click.option("--input-size", type=int, default=None,
              help="Model input side, k * stride + 1 [params predict.input_size]")
@click.option("--single-pose/--multi-pose", "single_pose", default=None, help="[params predict.multi_pose]")
@click.option("--score-threshold", type=click.FloatRange(0, 1), default=None,
              help="Part score a pose root needs [params predict.score_threshold]")
@click.option("--nms-radius", type=click.FloatRange(min=0), default=None,
              help="Model-input pixels [params predict.nms_radius]")
@click.option("--max-poses", type=click.IntRange(min=1), default=None, help="[params predict.max_poses]")
@click.option("--preset", type=click.Choice(PREDICT_PRESETS), default=None,
              help="tfjs (TF.js exactly), fast or accurate (test-time augmentation); options above override it "
                   "[params predict.preset]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default=None,
              help="Inference backend (onnx/int8 need the [onnx] extra) [params predict.backend]")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Still images per forward pass (videos go frame by frame).")
@click.option("--streams", type=click.IntRange(min=1), default=None,
              help="CPU: run a batch's images this many at a time, one per thread, each thread an equal share of "
                   "the cores (throughput; e.g. --batch 8 --streams <cores>) [params predict.streams]")
@click.option("--format", "fmt", type=click.Choice(["json", "coco"]), default="json", show_default=True,
              help="json: poses.json {image: [poses]}; coco: coco_results.json (needs --coco-annotations).")
@click.option("--coco-annotations", type=click.Path(dir_okay=False), default=None,
              help="COCO annotation JSON giving the image ids (matched by file name) for --format coco.")
@click.option("--track/--no-track", "track", default=None,
              help="Videos and webcam: give every pose a track_id (JSON, colour and #id on the overlay) "
                   "[params track.enabled]")
@click.option("--smooth/--no-smooth", "smooth", default=None,
              help="Videos and webcam: One Euro smoothing of each track's keypoints (implies --track) "
                   "[params track.smooth]")
@click.option("--heatmap", default=None,
              help="Blend this keypoint's heatmap under the overlays (name, index or 'all').")
@click.option("--no-render", is_flag=True, help="Write poses only: no overlays or annotated videos (benchmark mode).")
@click.option("--min-part-score", type=click.FloatRange(0, 1), default=MIN_PART_SCORE, show_default=True,
              help="Drawing only: hide keypoints below this score.")
@click.option("--min-pose-score", type=click.FloatRange(0, 1), default=None,
              help="Drop poses scoring below this from poses.json, overlays and videos (--format coco keeps every "
                   "pose; 0 with --preset tfjs: TF.js exactly) [params predict.min_pose_score]")
@logging_options
@user_errors
def infer(inputs: tuple[str, ...], out_dir: str, webcam: int | None, max_frames: int, params_path: str | None,
         model_name: str | None, weights: str | None, stride: str | None, input_size: int | None,
         single_pose: bool | None, score_threshold: float | None, nms_radius: float | None, max_poses: int | None,
         preset: str | None, device: str, backend: str | None, batch: int, streams: int | None, fmt: str,
         coco_annotations: str | None, track: bool | None, smooth: bool | None, heatmap: str | None,
         no_render: bool, min_part_score: float, min_pose_score: float | None) -> None:
    """Find poses in INPUTS: image files, folders, glob patterns and video files."""
    if not inputs and webcam is None:
        raise click.UsageError("give INPUTS (image files, folders, globs, videos) or --webcam INDEX")
    params = load_params(params_path)
    onnx_file = weights is not None and Path(weights).suffix.lower() == ".onnx"
    if onnx_file:  # an exported ONNX file: variant and stride come from its metadata, ONNX Runtime runs it
        from posenet.runtime.onnx import load_onnx_model

        model = load_onnx_model(weights)
        _check_onnx_options(weights, model.variant, model.output_stride, model_name, stride, backend)
        model_name, stride, backend = model.variant, str(model.output_stride), "onnx"
        device = "cpu" if device == "auto" else device
    name = model_name or params.model.name
    out_stride = int(stride) if stride else params.model.stride
    size = input_size or params.predict.input_size
    check_input_size("--input-size", size, out_stride)
    # the heavy modules (torch, OpenCV) load once the arguments are known to be good: `--help` stays fast
    from tqdm import tqdm

    from posenet.apps.inferencer import Inferencer, InferOutputs, load_coco_image_ids
    from posenet.device import resolve_device
    from posenet.inference.config import sizes_text
    from posenet.inference.predictor import Predictor
    from posenet.models.factory import default_model_file, load_model

    coco_ids = load_coco_image_ids(coco_annotations) if coco_annotations else None

    torch_device = resolve_device(device)
    if onnx_file:
        log.info("model %s: %s (an exported ONNX file, run by ONNX Runtime)", name, weights)
    else:
        weights_path = default_model_file(name, weights, **params.weights.fetch_options())
        model = load_model(name, out_stride, weights=weights_path, device=torch_device)
    predictor = Predictor.from_params(
        params, model=model, device=torch_device, preset=preset, input_size=input_size, max_poses=max_poses,
        multi_pose=None if single_pose is None else not single_pose, score_threshold=score_threshold,
        nms_radius=nms_radius, backend=backend, streams=streams)
    config = predictor.config
    log.info("running %s at stride %d, input %s (%s, backend %s, %d stream%s)", name, out_stride,
             sizes_text(predictor.scale_hws, config.fit_aspect, config.flip), predictor.device,
             config.backend, config.streams, "s" * (config.streams != 1))
    if predictor.config.streams > 1 and batch == 1:
        log.warning("--streams %d runs the images of a batch at once: it needs --batch 2 or more",
                    predictor.config.streams)
    smooth = params.track.smooth if smooth is None else smooth
    tracking = smooth or (params.track.enabled if track is None else track)
    if tracking:
        log.info("tracking poses (%s similarity%s)", params.track.similarity, ", smoothed" if smooth else "")
    outputs = InferOutputs(Path(out_dir), render=not no_render, heatmap=heatmap, fmt=fmt, coco_ids=coco_ids,
                           min_part_score=min_part_score, batch=batch,
                           min_pose_score=params.predict.min_pose_score if min_pose_score is None else min_pose_score,
                           track=params.track.options(smooth) if tracking else None)
    inferencer = Inferencer(predictor, outputs,
                            on_error=lambda message: tqdm.write(f"error: {message}", file=sys.stderr))
    summary = inferencer.run(inputs, webcam=webcam, max_frames=max_frames)
    click.echo(summary.closing_line())
    if summary.failed:
        sys.exit(2)


def _check_onnx_options(path: str, variant: str, output_stride: int, model_name: str | None, stride: str | None,
                        backend: str | None) -> None:
    """ParamsError when an option contradicts the ONNX file (its variant and stride are fixed, ONNX Runtime runs it)."""
    if model_name not in (None, variant):
        raise ParamsError(f"--model {model_name}: {path} holds {variant}")
    if stride not in (None, str(output_stride)):
        raise ParamsError(f"--stride {stride}: {path} was exported at stride {output_stride}")
    if backend not in (None, "onnx"):
        raise ParamsError(f"--backend {backend}: {path} is an ONNX file, it runs on backend onnx")
