"""posenet.tracking: ids kept through crossings and short absences, never reused; OKS / IoU; the One Euro filter
against the paper's equations; smoothing state per track."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from reference_cases import LOCAL

from posenet.constants import COCO_SIGMAS
from posenet.io.media import read_image
from posenet.pose import Pose, poses_from_json
from posenet.tracking.one_euro import KeypointSmoother, OneEuroFilter
from posenet.tracking.pipeline import VideoTracking
from posenet.tracking.tracker import PoseTracker, oks_similarity

REPO = Path(__file__).resolve().parents[2]
FPS = 30.0


def real_people() -> list[Pose]:
    """The three people TF.js PoseNet 2.2.2 found in a real photo (tests/data/tfjs_reference/three_people)."""
    poses = poses_from_json(json.loads((LOCAL / "three_people.poses.json").read_text())["multi_poses"])
    return [p for p in poses if p.score > 0.4]


def placed(pose: Pose, centre: tuple[float, float], scale: float = 1.0, score: float | None = None) -> Pose:
    """``pose`` scaled about its keypoints' mean and moved so that mean sits at ``centre`` (x, y) px."""
    mean = pose.keypoints.mean(axis=0)
    return Pose(pose.score if score is None else score, (pose.keypoints - mean) * scale + np.asarray(centre),
                pose.keypoint_scores)


def crossing_sequence(rng: np.random.Generator) -> tuple[list[list[Pose]], list[list[str]]]:
    """90 frames at 30 fps of three real people: A walks right and B walks left across A's path (B nearer the
    camera: 1.2x and lower), C stands, leaves the view from frame 40 to 54 (0.5 s) and comes back where it was.
    Keypoints get 1.5 px of detection noise. Returns the poses of each frame (in the detector's score order) and
    who each pose is."""
    a, b, c = real_people()
    frames, who = [], []
    for i in range(90):
        people = [("A", placed(a, (150 + 4 * i, 300))), ("B", placed(b, (510 - 4 * i, 330), 1.2)),
                  ("C", placed(c, (700, 250)))]
        if 40 <= i < 55:
            people = people[:2]
        noisy = [(name, Pose(p.score, p.keypoints + rng.normal(0, 1.5, p.keypoints.shape), p.keypoint_scores))
                 for name, p in people]
        noisy.sort(key=lambda item: -item[1].score)
        frames.append([p for _, p in noisy])
        who.append([name for name, _ in noisy])
    return frames, who


@pytest.mark.parametrize("similarity", ["oks", "iou"])
@pytest.mark.parametrize("assignment", ["greedy", "optimal"])
def test_crossing_and_a_short_absence_keep_every_id(similarity, assignment):
    frames, who = crossing_sequence(np.random.default_rng(0))
    tracker = PoseTracker(similarity=similarity, assignment=assignment, max_age=1.0)
    ids: dict[str, set[int]] = {"A": set(), "B": set(), "C": set()}
    for i, poses in enumerate(frames):
        tracked = tracker.update(poses, i / FPS)
        assert [p.keypoints.tolist() for p in tracked] == [p.keypoints.tolist() for p in poses]  # poses unchanged
        for name, pose in zip(who[i], tracked):
            ids[name].add(pose.track_id)
    assert all(len(v) == 1 for v in ids.values()), ids                   # one id per person, all along
    assert len(set.union(*ids.values())) == 3 and None not in set.union(*ids.values())


def test_an_expired_id_is_never_reused():
    (a, *_), tracker = real_people(), PoseTracker(max_age=0.5)
    first = tracker.update([a], 0.0)[0].track_id
    assert tracker.update([], 0.4) == [] and tracker.track_ids == {first}   # within max_age: kept
    assert tracker.update([a], 0.45)[0].track_id == first                    # and linked again
    tracker.update([], 1.0)                                                  # 0.55 s without it: expired
    assert tracker.track_ids == set()
    again = tracker.update([a], 1.1)[0].track_id
    assert again not in (None, first) and again > first
    tracker.reset()
    assert tracker.update([a], 2.0)[0].track_id not in (first, again)


def test_weak_poses_cannot_take_a_strong_track():
    a = real_people()[0]
    tracker = PoseTracker(max_age=10.0)
    first = tracker.update([placed(a, (300, 300), score=0.7), placed(a, (400, 300), score=0.05)], 0.0)
    assert [p.track_id for p in first] == [1, 2]                 # 100 px apart: not a duplicate, a weak track
    moved = placed(a, (360, 300), score=0.7)                     # now nearer the weak track's pose than its own
    assert tracker.update([moved], 1 / FPS)[0].track_id == 1
    single_round = PoseTracker(max_age=10.0, min_pose_score=0.0)     # every pose strong: TF.js's one round
    single_round.update([placed(a, (300, 300), score=0.7), placed(a, (400, 300), score=0.05)], 0.0)
    assert single_round.update([moved], 1 / FPS)[0].track_id == 2


def test_a_duplicate_takes_its_persons_id_and_every_pose_gets_an_id():
    a, b, c = real_people()
    tracker = PoseTracker(max_tracks=2, max_age=10.0)
    for i in range(4):                                          # the duplicate comes and goes
        poses = [placed(a, (300 - 6 * i, 300), score=0.7)] + [placed(a, (302 - 6 * i, 301), score=0.04)] * (i % 2)
        assert [p.track_id for p in tracker.update(poses, i / FPS)] == [1] * len(poses)
    assert tracker.track_ids == {1}                             # the duplicate made no track
    few = Pose(0.5, a.keypoints, np.where(np.arange(17) < 3, 0.9, 0.05))   # 3 confident keypoints: no comparison
    ids = [tracker.update([few], t)[0].track_id for t in (0.3, 0.4)]
    assert None not in ids and ids[0] != ids[1] and not set(ids) & tracker.track_ids   # fresh ids, no track kept
    tracker.update([placed(b, (100, 100), score=0.05), placed(c, (700, 100), score=0.05)], 0.5)
    assert 1 in tracker.track_ids                               # max_tracks: strong tracks are kept before weak ones


def test_oks_matches_the_coco_formula_and_needs_min_keypoints():
    a = real_people()[0]
    ok = a.keypoint_scores >= 0.3
    moved = a.keypoints + np.array([3.0, -4.0])                                  # every keypoint 5 px away
    box = np.ptp(a.keypoints[ok], axis=0)
    expected = np.exp(-25.0 / (2 * (box[0] * box[1] + 1e-6) * (2 * COCO_SIGMAS[ok]) ** 2)).mean()
    got = oks_similarity(moved[None], ok[None], a.keypoints[None], ok[None], 4)
    assert got.shape == (1, 1) and got[0, 0] == pytest.approx(expected, rel=1e-12)
    few = ok & (np.cumsum(ok) <= 3)
    assert oks_similarity(moved[None], few[None], a.keypoints[None], ok[None], 4)[0, 0] == 0.0


def test_coco_sigmas_are_pycocotools():
    from pycocotools.cocoeval import Params

    np.testing.assert_allclose(COCO_SIGMAS, Params(iouType="keypoints").kpt_oks_sigmas, rtol=1e-12)


def paper_one_euro(xs: list[float], ts: list[float], min_cutoff: float, beta: float, d_cutoff: float) -> list[float]:
    """The 1€ filter written out from Casiez et al. (CHI 2012), equations (1)-(4), one scalar at a time."""
    def alpha(cutoff: float, te: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out, x_hat, dx_hat = [xs[0]], xs[0], 0.0
    for i in range(1, len(xs)):
        te = ts[i] - ts[i - 1]
        dx = (xs[i] - xs[i - 1]) / te
        dx_hat = alpha(d_cutoff, te) * dx + (1 - alpha(d_cutoff, te)) * dx_hat
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = alpha(cutoff, te) * xs[i] + (1 - alpha(cutoff, te)) * x_hat
        out.append(x_hat)
    return out


def test_one_euro_equals_the_papers_formulas_on_a_known_signal():
    rng = np.random.default_rng(1)
    ts = np.cumsum(rng.uniform(0.02, 0.05, 200))                  # irregular frame times, as from a webcam
    signals = np.stack([np.sin(2 * np.pi * 0.5 * ts) + rng.normal(0, 0.02, ts.size),     # slow + noise
                        np.where(ts > ts[100], 1.0, 0.0),                                 # a step
                        0.3 * ts])                                                        # a ramp
    for min_cutoff, beta, d_cutoff in ((1.0, 0.0, 1.0), (2.5, 300.0, 2.5), (0.5, 0.7, 1.0)):
        filt = OneEuroFilter(min_cutoff, beta, d_cutoff)
        got = np.stack([filt(signals[:, i], t) for i, t in enumerate(ts)], axis=1)
        for signal, row in zip(signals, got):
            np.testing.assert_allclose(row, paper_one_euro(signal.tolist(), ts.tolist(), min_cutoff, beta, d_cutoff),
                                       rtol=1e-12, atol=1e-12)
    # By hand, beta 0: a fixed alpha = 1 / (1 + 1 / (2 pi * 1 Hz * 0.1 s)) = 0.38586...
    filt = OneEuroFilter(1.0, 0.0, 1.0)
    assert filt(np.array([0.0]), 0.0)[0] == 0.0
    assert filt(np.array([1.0]), 0.1)[0] == pytest.approx(1 / (1 + 1 / (2 * math.pi * 0.1)), rel=1e-12)
    assert filt(np.array([5.0]), 0.1)[0] == 5.0                  # a repeated time: passed through, state kept
    assert filt(np.array([1.0]), 0.2)[0] == pytest.approx(0.38586 + 0.38586 * (1 - 0.38586), abs=1e-4)


def test_one_euro_smooths_jitter_and_follows_fast_motion():
    rng = np.random.default_rng(2)
    ts = np.arange(120) / FPS
    still = 0.5 + rng.normal(0, 0.003, ts.size)                   # ~2 px jitter on a 640 px frame
    filt = OneEuroFilter(2.5, 300.0, 2.5)
    smooth = np.array([filt(np.array([x]), t)[0] for x, t in zip(still, ts)])
    assert np.abs(np.diff(smooth, 2)).mean() < 0.7 * np.abs(np.diff(still, 2)).mean()
    fast = 2.0 * ts                                               # 2 image widths per second
    filt = OneEuroFilter(2.5, 300.0, 2.5)
    lagged = np.array([filt(np.array([x]), t)[0] for x, t in zip(fast, ts)])
    assert np.abs(lagged - fast)[10:].max() < 0.01                # the cutoff opens: under 1% lag


def test_smoother_state_lives_and_dies_with_the_track():
    a = real_people()[0]
    smoother = KeypointSmoother()
    first = smoother([Pose(a.score, a.keypoints, a.keypoint_scores, track_id=7), a], 0.0, (640, 480))
    assert first[0].track_id == 7 and first[1] is a               # untracked poses pass through
    jumped = Pose(a.score, a.keypoints + 2.0, a.keypoint_scores * 0.5, track_id=7)
    second = smoother([jumped], 1 / FPS, (640, 480))[0]
    assert np.all(np.abs(second.keypoints - a.keypoints) < 2.0)   # smoothed towards the last position
    np.testing.assert_array_equal(second.keypoint_scores, a.keypoint_scores * 0.5)   # scores not smoothed
    smoother.keep_only({8})
    assert smoother.filters == {}
    fresh = smoother([jumped], 2 / FPS, (640, 480))[0]
    np.testing.assert_allclose(fresh.keypoints, jumped.keypoints, rtol=1e-12)        # a new filter starts at the pose


def test_video_tracking_tracks_then_smooths():
    frames, _ = crossing_sequence(np.random.default_rng(3))
    raw, smooth = VideoTracking(), VideoTracking(smooth=True)
    raw_out = [raw(poses, i / FPS, (900, 600)) for i, poses in enumerate(frames)]
    smooth_out = [smooth(poses, i / FPS, (900, 600)) for i, poses in enumerate(frames)]
    assert [[p.track_id for p in f] for f in raw_out] == [[p.track_id for p in f] for f in smooth_out]
    jitter = {name: np.mean([np.abs(np.diff([f[0].keypoints for f in out], 2, axis=0)).mean()])
              for name, out in (("raw", raw_out), ("smooth", smooth_out))}
    assert jitter["smooth"] < jitter["raw"]
    assert set(smooth.smoother.filters) == smooth.tracker.track_ids


def test_tracking_imports_only_the_leaf_modules_and_no_torch():
    allowed = {"posenet.pose", "posenet.constants", "posenet.errors"}
    for path in (REPO / "posenet" / "tracking").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("posenet"):
                assert node.module in allowed or node.module.startswith("posenet.tracking"), (path.name, node.module)
    code = "import sys, posenet.tracking; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


PHOTOS = REPO / "tests" / "data" / "images"
CANVAS = (640, 400)


def sprite(name: str, rows: tuple[int, int], cols: tuple[int, int], height: int) -> np.ndarray:
    """A person cut out of a real photo (a rectangle with its own background), ``height`` px tall, RGB."""
    image = read_image(PHOTOS / name)[rows[0]:rows[1], cols[0]:cols[1]]
    width = round(image.shape[1] * height / image.shape[0])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def composite_clip(frames: int = 60) -> tuple[list[np.ndarray], list[dict[str, tuple[int, int, int, int] | None]]]:
    """Three real people pasted on a real beach at 30 fps: a man walks right (far, higher), a child walks left in
    front of him (near, lower: they cross at frame ~30), and a man doing yoga leaves the view on the right at frames
    15-22 and comes back at 33-40 (0.37 s away). Returns RGB frames and, per frame, each person's visible box
    (x0, y0, x1, y1) or None."""
    background = cv2.resize(read_image(PHOTOS / "pose.jpg")[:, :230], CANVAS, interpolation=cv2.INTER_AREA)
    people = {"walker": sprite("backpackman.jpg", (80, 513), (140, 340), 170),
              "child": sprite("multi_skiing.jpg", (140, 513), (170, 450), 200),
              "yoga": sprite("pose.jpg", (200, 650), (230, 780), 140)}
    out, boxes = [], []
    for i in range(frames):
        away = 25 * (min(i, 22) - 15) if 15 <= i < 33 else (25 * (40 - i) if 33 <= i < 40 else 0)
        where = {"walker": (20 + 6 * i, 30), "yoga": (450 + max(away, 0), 20), "child": (420 - 6 * i, 190)}
        frame, visible = background.copy(), {}
        for name in ("walker", "yoga", "child"):                   # the child last: in front
            image, (x, y) = people[name], where[name]
            x1, y1 = min(x + image.shape[1], CANVAS[0]), y + image.shape[0]
            if x1 - x < 20:
                visible[name] = None
                continue
            frame[y:y1, x:x1] = image[:, :x1 - x]
            visible[name] = (x, y, x1, y1)
        out.append(frame)
        boxes.append(visible)
    return out, boxes


@pytest.mark.slow
def test_real_people_crossing_and_leaving_keep_their_ids(pretrained_model):
    """Pixels, not poses: the real model finds three real people in every frame of the composite clip; the tracker
    gives each one id from start to end (through the crossing and the yoga man's 0.37 s away), all different."""
    from posenet.inference.predictor import Predictor

    frames, boxes = composite_clip()
    predictor = Predictor(pretrained_model, input_size=385)
    tracking = VideoTracking()
    ids: dict[str, list[int]] = {"walker": [], "child": [], "yoga": []}
    for i, frame in enumerate(frames):
        for pose in tracking(predictor(frame), i / FPS, CANVAS):
            if pose.score < 0.15:
                continue
            centre, owner = pose.keypoints[pose.keypoint_scores >= 0.3].mean(axis=0), None
            for name, box in boxes[i].items():                     # the front-most box holding the pose's centre
                if box and box[0] <= centre[0] < box[2] and box[1] <= centre[1] < box[3]:
                    owner = name
            if owner is not None:
                ids[owner].append(pose.track_id)
    visible = {name: sum(box[name] is not None for box in boxes) for name in ids}
    for name, seen in ids.items():
        assert len(seen) >= 0.8 * visible[name], (name, len(seen), visible[name])   # found in most frames
        assert len(set(seen)) == 1, (name, seen)
    assert len({seen[0] for seen in ids.values()}) == 3


def test_a_duplicate_sharing_a_track_id_does_not_move_the_persons_filter():
    """Two poses of one frame with one id (PoseNet's duplicate): the strongest feeds the filter once per frame, the
    duplicate comes back unchanged, and the first frame of a track is its input exactly."""
    smoother = KeypointSmoother()
    strong = Pose(0.9, np.full((17, 2), 100.0), np.ones(17), track_id=1)
    weak = Pose(0.2, np.full((17, 2), 140.0), np.ones(17), track_id=1)
    first = smoother([weak, strong], 0.0, (640, 480))
    np.testing.assert_allclose(first[1].keypoints, strong.keypoints, rtol=1e-12)  # up to px -> size units -> px
    np.testing.assert_array_equal(first[0].keypoints, weak.keypoints)
    alone = KeypointSmoother()
    alone([strong], 0.0, (640, 480))
    moved = Pose(0.9, np.full((17, 2), 110.0), np.ones(17), track_id=1)
    np.testing.assert_array_equal(smoother([moved, weak], 0.1, (640, 480))[0].keypoints,
                                  alone([moved], 0.1, (640, 480))[0].keypoints)
