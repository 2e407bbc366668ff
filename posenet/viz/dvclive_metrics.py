"""DVCLive step metrics read back from their TSV tables (``<metrics_dir>/<group>/<name>.tsv``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from posenet.errors import PosenetError

__all__ = ["read_dvclive_metrics"]


def read_dvclive_metrics(metrics_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """DVCLive step metrics ``<metrics_dir>/<group>/<name>.tsv`` -> {"group/name": (steps, values)}."""
    root = Path(metrics_dir)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in sorted(root.rglob("*.tsv")):
        key = path.relative_to(root).with_suffix("").as_posix()
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) < 2 or "step" not in lines[0]:
            continue
        header = lines[0]
        column = header.index(path.stem) if path.stem in header else len(header) - 1
        try:
            rows = np.array([[float(r[header.index("step")]), float(r[column])] for r in lines[1:]])
        except (ValueError, IndexError) as err:
            raise PosenetError(f"{path}: not a DVCLive metric table (step and {path.stem} columns)") from err
        curves[key] = (rows[:, 0], rows[:, 1])
    return curves
