"""A folder of fetched TF.js files (with its ``source.json``) -> a PyTorch state dict and checkpoint meta."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from posenet.errors import WeightsError
from posenet.models.variants import get_variant
from posenet.weights.convert import tfjs_to_state_dict
from posenet.weights.integrity import SUMS_FILE, check_trusted, sha256_file, trust_key, verify_sums
from posenet.weights.sources import read_source_record
from posenet.weights.tfjs import read_tfjs

__all__ = ["convert_folder"]


def convert_folder(folder: str | os.PathLike, variant: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read the TF.js files in ``folder`` and convert them for ``variant`` -> (state_dict, checkpoint meta).

    Before anything is read, the files are checked against ``SHA256SUMS`` (required in a folder ``fetch_weights``
    wrote), and those sums against the pinned or first-fetch sums of their source; the readers check each file's
    size against the manifest's shapes and dtypes before reading it. meta: variant, source and origin (from
    ``source.json`` when present), TF.js format, sha256 of every file read.
    """
    get_variant(variant)
    folder = Path(folder)
    record = read_source_record(folder)
    sums = verify_sums(folder, fetched=bool(record))
    key = trust_key(str(record.get("source", "")), str(record.get("origin", "")))
    if key is not None and sums is not None:
        check_trusted(key, sums)
    weights = read_tfjs(folder)
    unlisted = [name for name in weights.files if sums is not None and name not in sums]
    if unlisted:
        raise WeightsError(f"{folder / unlisted[0]}: read for the weights but not listed in {SUMS_FILE}")
    state = tfjs_to_state_dict(weights.variables, variant)
    meta = {
        "variant": variant,
        "source": record.get("source", "local"),
        "origin": record.get("origin", str(folder)),
        "format": weights.format,
        "checksums": {name: sha256_file(folder / name) for name in weights.files},
    }
    return state, meta
