"""What an exported PoseNet says about itself: variant, output stride, input normalisation, keypoints, edges, the
layout of every output and the checkpoint it came from.

The same description goes into a TF.js export (``model.json`` ``userDefinedMetadata.posenet``) and an ONNX
export (``metadata_props``, one ``posenet.<field>`` entry per field), so a file can be run, or checked, without
knowing how it was made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posenet.constants import NUM_EDGES, NUM_KEYPOINTS, PART_NAMES, POSE_CHAIN
from posenet.errors import ModelError
from posenet.models.variants import get_variant, reachable_strides

FORMAT_VERSION = 1
# RGB uint8 pixels -> model input, as TF.js PoseNet's MobileNet.preprocessInput (the only one the port knows).
INPUT_NORMALIZATION = "x / 127.5 - 1"
PROP_PREFIX = "posenet."
# Fields of the description; the string ones are stored as they are in ONNX metadata_props, the others as JSON.
_STRING_FIELDS = ("variant", "source_checkpoint", "source_sha256")
_JSON_FIELDS = ("format_version", "multiplier", "output_stride", "input", "keypoints", "edges", "outputs")
FIELDS = _STRING_FIELDS + _JSON_FIELDS


def describe(variant: str, output_stride: int, layout: str, input_name: str, output_names: Mapping[str, str],
             source: str | Path | None = None, source_sha256: str | None = None) -> dict[str, Any]:
    """The description of ``variant`` at ``output_stride`` exported with tensors in ``layout`` (``NCHW`` for
    ONNX, ``NHWC`` for TF.js). output_names: the file's tensor name of each head, keyed ``heatmaps``,
    ``offsets``, ``displacements_fwd``, ``displacements_bwd``. source: the checkpoint (its file name is kept)."""
    multiplier = get_variant(variant).multiplier
    if output_stride not in reachable_strides(variant):
        raise ModelError(f"{variant} cannot produce output stride {output_stride}")
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(layout)
    dims = "[N, {c}, h, w]" if layout == "NCHW" else "[N, h, w, {c}]"
    heads = {
        "heatmaps": (NUM_KEYPOINTS, "keypoint logits, one channel per keypoint; sigmoid gives the scores"),
        "offsets": (2 * NUM_KEYPOINTS, "short-range offsets in model-input pixels: channel k is dy of keypoint k, "
                                       f"{NUM_KEYPOINTS} + k its dx"),
        "displacements_fwd": (2 * NUM_EDGES, "mid-range displacements parent -> child in model-input pixels: "
                                             f"channel e is dy of edge e, {NUM_EDGES} + e its dx"),
        "displacements_bwd": (2 * NUM_EDGES, "mid-range displacements child -> parent, same layout"),
    }
    return {
        "format_version": FORMAT_VERSION,
        "variant": variant,
        "multiplier": multiplier,
        "output_stride": int(output_stride),
        "input": {"name": input_name, "shape": "[N, 3, H, W]" if layout == "NCHW" else "[N, H, W, 3]",
                  "dtype": "float32", "color": "RGB", "normalization": INPUT_NORMALIZATION,
                  "size": f"H and W = k * {output_stride} + 1 (TF.js PoseNet letterboxes and resizes to it)"},
        "keypoints": list(PART_NAMES),
        "edges": [list(edge) for edge in POSE_CHAIN],
        "outputs": {key: {"name": output_names[key], "shape": dims.format(c=channels), "meaning": meaning}
                    for key, (channels, meaning) in heads.items()},
        "source_checkpoint": Path(source).name if source is not None else "",
        "source_sha256": source_sha256 or "",
    }


def to_props(meta: Mapping[str, Any]) -> dict[str, str]:
    """A description as ONNX ``metadata_props``: ``posenet.<field>`` -> the string, or its JSON."""
    return {PROP_PREFIX + key: meta[key] if key in _STRING_FIELDS else json.dumps(meta[key]) for key in FIELDS}


def from_props(props: Mapping[str, str], where: str) -> dict[str, Any]:
    """The description back from ``metadata_props``; ModelError naming ``where`` when a field is missing or the
    file describes something this version cannot run."""
    missing = [key for key in FIELDS if PROP_PREFIX + key not in props]
    if missing:
        raise ModelError(f"{where}: no PoseNet metadata ({PROP_PREFIX}{missing[0]} missing); "
                         "export the model with `posenet export --format onnx`")
    try:
        meta = {key: props[PROP_PREFIX + key] if key in _STRING_FIELDS else json.loads(props[PROP_PREFIX + key])
                for key in FIELDS}
    except json.JSONDecodeError as err:
        raise ModelError(f"{where}: unreadable PoseNet metadata ({err})") from None
    check(meta, where)
    return meta


def check(meta: Mapping[str, Any], where: str) -> None:
    """ModelError when ``meta`` describes a model this version cannot run as it is (another format version,
    normalisation, keypoint set or edge list, an unknown variant or an unreachable stride)."""
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{where}: PoseNet metadata version {meta.get('format_version')!r}, "
                         f"this version reads {FORMAT_VERSION}")
    get_variant(str(meta.get("variant")))
    if meta.get("output_stride") not in reachable_strides(str(meta["variant"])):
        raise ModelError(f"{where}: output stride {meta.get('output_stride')!r} is not one of {meta['variant']}'s")
    if (meta.get("input") or {}).get("normalization") != INPUT_NORMALIZATION:
        raise ModelError(f"{where}: input normalisation {(meta.get('input') or {}).get('normalization')!r}, "
                         f"the predictor applies {INPUT_NORMALIZATION!r}")
    if meta.get("keypoints") != list(PART_NAMES) or meta.get("edges") != [list(e) for e in POSE_CHAIN]:
        raise ModelError(f"{where}: keypoints or edges differ from PoseNet's 17 COCO keypoints")
