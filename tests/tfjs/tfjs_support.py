"""Shared by the TF.js tests: the pinned npm packages (npm ci into the user cache), PNG copies of the test photos,
the official posenet run in node, and pose comparisons with this project's Predictor."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet.errors import PosenetError
from posenet.pose import Pose

HERE = Path(__file__).resolve().parent
PHOTOS = sorted((HERE.parent / "data" / "images").glob("*.jpg"))
NODE = shutil.which("node")
NPM = shutil.which("npm")
# npm's codes for a registry it cannot reach (offline machine, proxy, DNS)
_UNREACHABLE = re.compile(r"ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|timed out")


def install(project: Path, purpose: str) -> Path:
    """``node_modules`` of ``project``'s lock file (npm ci into the user cache, once per machine); the test is
    skipped, with the reason, where node / npm are missing or the registry cannot be reached."""
    if NODE is None or NPM is None:
        pytest.skip(f"{purpose} need node and npm on the PATH (missing: {'node' if NODE is None else 'npm'})")
    from posenet.apps.web.npm import npm_ci

    try:
        return npm_ci(project, purpose)
    except PosenetError as err:
        if _UNREACHABLE.search(str(err)):
            pytest.skip(f"{purpose}: the npm registry is unreachable ({err})")
        raise


def png_photos(folder: Path) -> list[Path]:
    """The test photos as PNG (lossless: node's pngjs, Chromium and OpenCV decode the same pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for photo in PHOTOS:
        path = folder / f"{photo.stem}.png"
        assert cv2.imwrite(str(path), cv2.imread(str(photo), cv2.IMREAD_COLOR))
        out.append(path)
    return out


def run_official(node_modules: Path, root: Path, runs: list[dict], work: Path) -> dict:
    """Run tests/tfjs/run_posenet.js (official posenet 2.2.2 on tfjs-backend-cpu) over ``runs``; its output."""
    job = work / "job.json"
    out = work / "official.json"
    job.write_text(json.dumps({"root": str(root), "out": str(out), "runs": runs}))
    done = subprocess.run([NODE, str(HERE / "run_posenet.js"), str(job)], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "NODE_PATH": str(node_modules)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def tfjs_pose(data: dict) -> Pose:
    """A pose as posenet 2.2.2 returns it (``keypoints[].position.{x, y}``) -> Pose."""
    kps = data["keypoints"]
    return Pose(data["score"], [[k["position"]["x"], k["position"]["y"]] for k in kps], [k["score"] for k in kps])


def pose_gaps(got: list[Pose], want: list[Pose]) -> tuple[float, float]:
    """(largest mean keypoint distance in px, largest pose or keypoint score difference) over the poses, in
    order; the counts must match."""
    assert len(got) == len(want), f"{len(got)} poses against {len(want)}"
    dist = max((float(np.linalg.norm(g.keypoints - w.keypoints, axis=1).mean()) for g, w in zip(got, want)),
               default=0.0)
    score = max((max(abs(g.score - w.score), float(np.abs(g.keypoint_scores - w.keypoint_scores).max()))
                 for g, w in zip(got, want)), default=0.0)
    return dist, score


def matched_gaps(got: list[Pose], want: list[Pose]) -> tuple[float, float, int]:
    """Like :func:`pose_gaps` for poses that may come in another order or not at all (quantised weights move
    scores): each pose of ``want`` is paired with the nearest unpaired one of ``got`` (mean keypoint distance,
    closest pairs first) -> (largest distance, largest score difference, poses left unpaired on either side)."""
    pairs = sorted((float(np.linalg.norm(g.keypoints - w.keypoints, axis=1).mean()), i, j)
                   for i, g in enumerate(got) for j, w in enumerate(want))
    used_g, used_w, dist, score = set(), set(), 0.0, 0.0
    for d, i, j in pairs:
        if i in used_g or j in used_w:
            continue
        used_g.add(i)
        used_w.add(j)
        g, w = got[i], want[j]
        dist = max(dist, d)
        score = max(score, abs(g.score - w.score), float(np.abs(g.keypoint_scores - w.keypoint_scores).max()))
    return dist, score, len(got) + len(want) - 2 * len(used_g)
