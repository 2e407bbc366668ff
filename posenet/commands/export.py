"""``posenet export``: a PoseNet checkpoint -> an ONNX model (dynamic batch, height and width), float32 or int8.

    posenet export --format onnx --out models/onnx/mobilenet_v1_075_s16.onnx
    posenet export --model mobilenet_v1_100 --stride 32 --opset 13 --out pn100.onnx
    posenet export --int8 --out pn075_int8.onnx          # static int8, calibrated on predict.calibration
"""

from __future__ import annotations

import logging

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.constants import DEFAULT_OPSET, MIN_OPSET, VALID_STRIDES
from posenet.io.atomic import write_bytes_atomic
from posenet.params import MODEL_NAMES, check_input_size, check_model, load_params

__all__ = ["export"]

log = logging.getLogger("posenet.export")


@click.command("export", context_settings=CONTEXT_SETTINGS)
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), default=None, help="[params model.name]")
@click.option("--stride", type=click.Choice([str(s) for s in VALID_STRIDES]), default=None,
              help="Output stride [params model.stride]")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint .pt [default: inside a project (a folder or parent with dvc.yaml and models/), its "
                   "trained model when it is a <model>, else its pretrained one; outside, Google's pretrained "
                   "weights, fetched once into the user cache]")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--opset", type=click.IntRange(min=MIN_OPSET), default=DEFAULT_OPSET, show_default=True,
              help="ONNX opset version.")
@click.option("--int8", "int8", is_flag=True,
              help="Quantise to static int8 (QDQ), calibrated on the photos of predict.calibration.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .onnx file.")
@params_option
@logging_options
@user_errors
def export(model_name: str | None, stride: str | None, weights: str | None, fmt: str, opset: int, int8: bool,
           out: str, params_path: str | None) -> None:
    """Export a PoseNet checkpoint to ONNX: input [N, 3, H, W] in [-1, 1], H and W = k * stride + 1."""
    params = load_params(params_path)
    name = model_name or params.model.name
    out_stride = int(stride) if stride else params.model.stride
    check_model("--model", "--stride", name, out_stride)
    from posenet.models.factory import default_model_file, load_model
    from posenet.runtime.onnx import onnx_bytes
    from posenet.runtime.quantize import quantized_int8

    weights_path = default_model_file(name, weights, **params.weights.fetch_options())
    model = load_model(name, out_stride, weights=weights_path)
    if int8:
        size = params.predict.input_size
        check_input_size("predict.input_size", size, out_stride)
        data = quantized_int8(model, params.predict.calibration, (size, size), opset=opset)
    else:
        data = onnx_bytes(model, opset)
    write_bytes_atomic(out, data)
    click.echo(f"wrote {out} ({fmt}{', int8' if int8 else ''}, opset {opset}, {name} stride {out_stride}, "
               f"{len(data) / 1e6:.1f} MB) from {weights_path}")
