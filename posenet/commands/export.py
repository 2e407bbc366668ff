"""``posenet export``: a PoseNet checkpoint -> an ONNX model, a TF.js graph model, or a browser page.

    posenet export                                       # ./posenet-mobilenet_v1_075-s16.onnx
    posenet export --format onnx --out models/onnx/mobilenet_v1_075_s16.onnx
    posenet export --model mobilenet_v1_100 --stride 32 --opset 13 --out pn100.onnx
    posenet export --int8 --out pn075_int8.onnx          # static int8, calibrated on predict.calibration
    posenet export --format tfjs --out web/model/ --weights models/trained/model.pt --quantize uint16
    posenet export --format web --out posenet-page/      # index.html + model + TF.js, offline

Without ``--out`` the output goes into the current folder, named after the model and the format (``default_out``):
``posenet-<variant>-s<stride>.onnx`` (``-int8.onnx`` with ``--int8``), ``posenet-<variant>-s<stride>-tfjs/`` and
``posenet-<variant>-s<stride>-web/`` (``-<quantize>`` before ``-tfjs`` / ``-web`` when the weights are quantised).

The checkpoint is by default the one ``posenet infer`` would serve (the trained model when it holds the variant,
else Google's pretrained weights). Folders (tfjs, web) are written into a temporary folder renamed into place
when complete; an existing non-empty folder is replaced only with ``--force``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.constants import DEFAULT_OPSET, MIN_OPSET, MIN_PART_SCORE, MIN_POSE_SCORE
from posenet.constants import TFJS_QUANTIZATIONS as QUANTIZATIONS
from posenet.errors import ParamsError
from posenet.params import check_input_size, check_model, load_params

__all__ = ["FORMATS", "default_out", "export"]

log = logging.getLogger("posenet.export")

FORMATS = ("onnx", "tfjs", "web")


def default_out(fmt: str, name: str, stride: int, *, int8: bool = False, quantize: str = "none") -> str:
    """The output name when ``--out`` is not given: ``posenet-<variant>-s<stride>`` + the format's ending."""
    stem = f"posenet-{name}-s{stride}"
    if fmt == "onnx":
        return f"{stem}{'-int8' if int8 else ''}.onnx"
    return f"{stem}{'' if quantize == 'none' else '-' + quantize}-{fmt}"


def _check_out_dir(out: Path, force: bool, label: str = "--out ") -> None:
    """ParamsError when ``out`` exists and is not an empty folder, unless ``force`` (it is then replaced whole)."""
    if force or not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    hint = "use --force to replace it" if label else "use --force to replace it, or --out to choose another name"
    if out.is_dir():
        raise ParamsError(f"{label}{out}: the folder exists and is not empty ({hint})")
    raise ParamsError(f"{label}{out}: a file of that name exists ({hint})")


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


@click.command("export", context_settings=CONTEXT_SETTINGS)
@click.option("--format", "fmt", default="onnx", show_default=True,
              help=f"{' | '.join(FORMATS)}: an ONNX file, a TF.js graph-model folder for the official "
                   "@tensorflow-models/posenet, or a self-contained browser page folder.")
@click.option("--out", default=None, type=click.Path(),
              help="Output .onnx file (onnx) or folder (tfjs, web) [default: in the current folder, "
                   "posenet-<model>-s<stride>.onnx (-int8.onnx with --int8), posenet-<model>-s<stride>-tfjs/ "
                   "or posenet-<model>-s<stride>-web/ (-<quantize>-tfjs/, -<quantize>-web/ when quantised)]")
@click.option("--model", "model_name", default=None, help="Variant [params model.name]")
@click.option("--stride", type=int, default=None, help="Output stride, 8, 16 or 32 [params model.stride]")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint .pt [default: the model `posenet infer` serves: inside a project (a folder or parent "
                   "with dvc.yaml and models/), its trained model when it is a <model>, else its pretrained one; "
                   "outside, Google's pretrained weights, fetched once into the user cache]")
@click.option("--quantize", default="none", show_default=True,
              help=f"tfjs / web: weight quantisation, {' | '.join(QUANTIZATIONS)} (TF.js dequantises on load).")
@click.option("--input-size", type=int, default=None,
              help="tfjs / web: the inputResolution the model is meant for, k * stride + 1 (recorded in "
                   "model.json, used by the page) [params predict.input_size]")
@click.option("--force", is_flag=True, help="tfjs / web: replace an existing non-empty output folder.")
@click.option("--opset", type=click.IntRange(min=MIN_OPSET), default=DEFAULT_OPSET, show_default=True,
              help="onnx: ONNX opset version.")
@click.option("--int8", "int8", is_flag=True,
              help="onnx: quantise to static int8 (QDQ), calibrated on the photos of predict.calibration.")
@params_option
@logging_options
@user_errors
def export(fmt: str, out: str | None, model_name: str | None, stride: int | None, weights: str | None, quantize: str,
           input_size: int | None, force: bool, opset: int, int8: bool, params_path: str | None) -> None:
    """Export a PoseNet checkpoint: ONNX (input [N, 3, H, W] in [-1, 1], H and W = k * stride + 1, with its
    description in metadata_props), a TF.js graph model, or a browser page that runs it."""
    if fmt not in FORMATS:
        raise ParamsError(f"--format = {fmt!r} is not one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise ParamsError(f"--quantize = {quantize!r} is not one of {', '.join(QUANTIZATIONS)}")
    if fmt == "onnx" and quantize != "none":
        raise ParamsError("--quantize is for --format tfjs and web (ONNX: --int8)")
    if fmt != "onnx" and int8:
        raise ParamsError(f"--int8 is for --format onnx (TF.js: --quantize {' | '.join(QUANTIZATIONS[1:])})")
    params = load_params(params_path)
    name = model_name or params.model.name
    out_stride = stride or params.model.stride
    check_model("--model", "--stride", name, out_stride)
    size = input_size or params.predict.input_size
    check_input_size("--input-size" if input_size else "predict.input_size", size, out_stride)
    label = "--out "
    if out is None:
        out, label = default_out(fmt, name, out_stride, int8=int8, quantize=quantize), ""
    out_path = Path(out)
    if fmt != "onnx":
        _check_out_dir(out_path, force, label)
    node_modules = None
    if fmt == "web":  # before any heavy work: without npm, one line now
        from posenet.apps.web.builder import install_packages

        node_modules = install_packages()

    from posenet.io.atomic import atomic_dir, write_bytes_atomic
    from posenet.models.factory import default_model_file, load_model
    from posenet.weights.integrity import sha256_file

    weights_path = default_model_file(name, weights, **params.weights.fetch_options())
    model = load_model(name, out_stride, weights=weights_path)
    sha256 = sha256_file(weights_path)

    if fmt == "onnx":
        from posenet.runtime.onnx import describe_onnx, onnx_bytes, with_metadata
        from posenet.runtime.quantize import quantized_int8

        if int8:
            data = quantized_int8(model, params.predict.calibration, (size, size), opset=opset)
        else:
            data = onnx_bytes(model, opset)
        data = with_metadata(data, describe_onnx(model, weights_path, sha256))
        write_bytes_atomic(out_path, data)
        click.echo(f"wrote {out} ({fmt}{', int8' if int8 else ''}, opset {opset}, {name} stride {out_stride}, "
                   f"{len(data) / 1e6:.1f} MB) from {weights_path}")
        return

    from posenet.weights.tfjs_export import describe_tfjs, write_graph_model

    if quantize == "uint8":
        log.warning("--quantize uint8 makes the model 3.8x smaller (5.1 -> 1.3 MB for 0.75) but moves keypoints "
                    "by several pixels (docs/deploy.md); float16 and uint16 halve it at ~0.2 px")
    meta = describe_tfjs(name, out_stride, size, weights_path, sha256)
    with atomic_dir(out_path) as tmp:
        if fmt == "tfjs":
            write_graph_model(tmp, model.state_dict(), name, out_stride, quantize, meta)
        else:
            from posenet.apps.web.builder import build_page

            predict = params.predict
            build_page(tmp, model.state_dict(), meta, quantize, node_modules,
                       decode={"maxDetections": predict.max_poses, "scoreThreshold": predict.score_threshold,
                               "nmsRadius": predict.nms_radius},
                       draw={"minPoseScore": MIN_POSE_SCORE, "minPartScore": MIN_PART_SCORE})
    what = "TF.js graph model" if fmt == "tfjs" else "browser page"
    click.echo(f"wrote {out} ({what}, {name} stride {out_stride}, quantize {quantize}, {_size_mb(out_path):.1f} MB) "
               f"from {weights_path}")
    if fmt == "tfjs":
        click.echo(f"load it with posenet.load({json.dumps(meta['load'] | {'modelUrl': '<url of>/model.json'})})")
    else:
        click.echo(f"serve it with: python -m http.server -d {out} 8000, then open http://localhost:8000")
