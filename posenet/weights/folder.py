"""A folder of fetched TF.js files (with its ``source.json``) -> a PyTorch state dict and checkpoint meta."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from posenet.models.variants import get_variant
from posenet.weights.convert import tfjs_to_state_dict
from posenet.weights.sources import read_source_record, sha256_file
from posenet.weights.tfjs import read_tfjs

__all__ = ["convert_folder"]


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
