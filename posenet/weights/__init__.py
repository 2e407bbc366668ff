"""Pretrained weights: sources (google / npm / local / auto), TF.js readers and the converter to PyTorch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from posenet.models.mobilenet import get_variant
from posenet.weights.convert import state_dict_to_tfjs, tfjs_to_state_dict
from posenet.weights.sources import FetchResult, fetch_weights, read_source_record, sha256_file
from posenet.weights.tfjs import TfjsWeights, read_graph_model, read_legacy, read_tfjs, write_legacy


def convert_folder(folder: str | os.PathLike, variant: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the TF.js files in ``folder`` and convert them for ``variant`` -> (state_dict, checkpoint meta).

    meta: variant, source and origin (from ``source.json`` when present), TF.js format, sha256 of every file read.
    """
    get_variant(variant)
    folder = Path(folder)
    weights = read_tfjs(folder)
    state = tfjs_to_state_dict(weights.variables, variant)
    record = read_source_record(folder)
    meta = {
        "variant": variant,
        "source": record.get("source", "local"),
        "origin": record.get("origin", str(folder)),
        "format": weights.format,
        "checksums": {name: sha256_file(folder / name) for name in weights.files},
    }
    return state, meta


__all__ = ["FetchResult", "TfjsWeights", "convert_folder", "fetch_weights", "read_graph_model", "read_legacy",
           "read_source_record", "read_tfjs", "sha256_file", "state_dict_to_tfjs", "tfjs_to_state_dict",
           "write_legacy"]
