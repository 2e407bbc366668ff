"""Pose tracking measured on real footage: the figures of docs/tracking.md.

    python tools/track_eval.py measure --labels EXPORT --photos PHOTO_DIR [--cache DIR]
    python tools/track_eval.py clip EXPORT clip.mp4 [--fps 30] [--back-and-forth]
    python tools/track_eval.py score out/clip_poses.json EXPORT [--back-and-forth] [--untracked plain_poses.json]

EXPORT: a Roboflow YOLOv8-pose export of consecutive frames of one video (file names in frame order), labelled
people without identities (they are linked frame to frame by the nearest centre, ``posenet.evaluation.tracking``).

``measure`` writes the frames as an H.264 MP4 (``clip``), runs Google's pretrained PoseNet (the ``tfjs`` preset, as
``posenet infer``) on the decoded video once (cached), then replays the tracker in every setting compared
(similarity, assignment, smoothing) and prints Markdown tables: identity switches, labelled people found before
and after tracking, the share of shown poses whose track goes on, jitter and keypoint error. PHOTO_DIR: real
photos of several people; each becomes a 2-second clip of a hand-held camera panning and zooming over it, the
people's identities known by construction (the poses found in the whole photo, carried through the camera path).

``score`` scores what ``posenet infer clip.mp4 --track`` wrote (the team's acceptance check).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import click
import cv2
import numpy as np

from posenet.apps.video import annotate_video
from posenet.data.roboflow_yolov8 import read_roboflow_yolov8
from posenet.evaluation.tracking import LabelledFrame, TrackingScore, link_identities, score_tracking
from posenet.io.media import VideoWriter, expand_inputs, read_image
from posenet.params import Params
from posenet.pose import Pose, poses_from_json, poses_to_json
from posenet.tracking.pipeline import VideoTracking
from posenet.tracking.tracker import DUPLICATE_OKS, oks_similarity

FPS = 30.0               # the badminton export does not say; its players move 3-6 px per frame, as at 30 fps
PAN_FRAMES = 60
PAN_SIZE = (640, 480)
# (label, VideoTracking options on top of params track.*)
SETTINGS: tuple[tuple[str, dict], ...] = (
    ("defaults: oks, optimal", {}),
    ("oks, greedy", {"assignment": "greedy"}),
    ("iou, optimal", {"similarity": "iou"}),
    ("iou, greedy", {"similarity": "iou", "assignment": "greedy"}),
    ("TF.js's settings: oks, greedy, keypoint_threshold 0.3, min_similarity 0.2",
     {"assignment": "greedy", "keypoint_threshold": 0.3, "min_similarity": 0.2}),
    ("defaults, smoothed (beta 100)", {"smooth": True}),
    ("smoothed with TF.js's filter (beta 300)", {"smooth": True, "beta": 300.0}),
    ("smoothed, beta 30", {"smooth": True, "beta": 30.0}),
)


def export_frames(export: Path, back_and_forth: bool) -> tuple[list[Path], list[LabelledFrame]]:
    """The export's images in frame order and their labels with linked identities; ``back_and_forth``: the frames
    then the same frames backwards (a longer clip with every motion reversed once)."""
    records = sorted(read_roboflow_yolov8(export).images, key=lambda r: r.name)
    if back_and_forth:
        records = records + records[-2::-1]
    people = [np.stack([p.keypoints for p in r.persons]) if r.persons else np.zeros((0, 17, 3)) for r in records]
    identities = link_identities(people)
    labels = [LabelledFrame(k, np.array([p.bbox[2] * p.bbox[3] for p in r.persons]), ids)
              for k, r, ids in zip(people, records, identities)]
    return [r.path for r in records], labels


def write_clip(frames: Sequence[np.ndarray], path: Path, fps: float = FPS) -> Path:
    """RGB frames -> an H.264 MP4 (posenet.io.media.VideoWriter)."""
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def pan_clip(photo: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A hand-held camera over ``photo``: a window of 80% of its sides moving from its top-left to its bottom-right
    corner while zooming in to 65%, shaking by up to 3 px; frames resized to PAN_SIZE. Returns the frames and the
    affine maps [2, 3] from photo to frame pixels."""
    height, width = photo.shape[:2]
    frames, maps = [], []
    for i in range(PAN_FRAMES):
        f = i / (PAN_FRAMES - 1)
        zoom = 0.8 - 0.15 * f
        cw, ch = width * zoom, height * zoom
        x0 = (width - cw) * f + rng.uniform(-3, 3)
        y0 = (height - ch) * f + rng.uniform(-3, 3)
        x0, y0 = np.clip(x0, 0, width - cw), np.clip(y0, 0, height - ch)
        sx, sy = PAN_SIZE[0] / cw, PAN_SIZE[1] / ch
        affine = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])
        frames.append(cv2.warpAffine(photo, affine, PAN_SIZE, flags=cv2.INTER_LINEAR))
        maps.append(affine)
    return frames, maps


def pan_labels(reference: Sequence[Pose], maps: Sequence[np.ndarray], keypoint_threshold: float = 0.3
               ) -> list[LabelledFrame]:
    """The people found in the whole photo (score >= 0.3, without the poses that repeat a stronger one: keypoint
    OKS >= DUPLICATE_OKS) carried into each frame: confident keypoints inside the frame are labelled; a person with
    fewer than 4 of them is out of view."""
    people: list[Pose] = []
    for pose in sorted((p for p in reference if p.score >= 0.3), key=lambda p: -p.score):
        ok = pose.keypoint_scores >= keypoint_threshold
        if not people or oks_similarity(pose.keypoints[None], ok[None], np.stack([p.keypoints for p in people]),
                                        np.stack([p.keypoint_scores >= keypoint_threshold for p in people]),
                                        4).max() < DUPLICATE_OKS:
            people.append(pose)
    frames = []
    for affine in maps:
        keypoints, areas, ids = [], [], []
        for identity, pose in enumerate(people):
            xy = pose.keypoints @ affine[:, :2].T + affine[:, 2]
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < PAN_SIZE[0]) & (xy[:, 1] >= 0) & (xy[:, 1] < PAN_SIZE[1])
            labelled = inside & (pose.keypoint_scores >= keypoint_threshold)
            if labelled.sum() < 4:
                continue
            box = np.ptp(xy[pose.keypoint_scores >= keypoint_threshold], axis=0)
            keypoints.append(np.column_stack([xy, np.where(labelled, 2.0, 0.0)]))
            areas.append(float(box[0] * box[1]))
            ids.append(identity)
        frames.append(LabelledFrame(np.array(keypoints).reshape(-1, 17, 3), np.array(areas), ids))
    return frames


def predictor():
    """Google's pretrained MobileNetV1 0.75, stride 16, with the default params (preset tfjs, input 513)."""
    from posenet.inference.predictor import Predictor
    from posenet.models.factory import load_model

    return Predictor.from_params(Params(), model=load_model("mobilenet_v1_075", 16))


def clip_poses(clip: Path, cache: Path, run) -> list[list[Pose]]:
    """Untracked poses of every frame of ``clip`` (decoded from the MP4, as ``posenet infer`` reads it), cached."""
    path = cache / f"{clip.stem}_poses.json"
    if not path.exists():
        video = annotate_video(clip, lambda frame: run()(frame))
        path.write_text(json.dumps([poses_to_json(p) for p in video.results]))
    return [poses_from_json(frame) for frame in json.loads(path.read_text())]


def replay(frames: Sequence[Sequence[Pose]], size: tuple[int, int], **options) -> tuple[list[list[Pose]], float]:
    """Track ``frames`` (at FPS) with VideoTracking(params track.* and ``options``); returns the tracked poses and
    the mean tracking time per frame (ms)."""
    tracking = VideoTracking(**{**Params().track.options(), **options})
    out, start = [], time.perf_counter()
    for i, poses in enumerate(frames):
        out.append(tracking(poses, i / FPS, size))
    return out, (time.perf_counter() - start) * 1e3 / max(len(frames), 1)


def row(label: str, s: TrackingScore, ms: float | None = None) -> str:
    found = f"{s.found_tracked}/{s.person_frames} ({s.found_tracked - s.found_untracked:+d})"
    cells = [label, str(s.id_switches), found, str(len(s.lost)), f"{s.continued:.1%}", f"{s.jitter_px:.2f}",
             f"{s.error_px:.1f}"] + ([f"{ms:.2f}"] if ms is not None else [])
    return "| " + " | ".join(cells) + " |"


HEADER = ("| setting | identity switches | labelled person-frames found (vs untracked) | lost by tracking | "
          "shown poses continuing a track | jitter (px/frame^2) | keypoint error (px) | ms/frame |\n"
          "|---|---|---|---|---|---|---|---|")


@click.group()
def main() -> None:
    """Tracking measurements on real footage."""


@main.command()
@click.argument("export", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fps", type=float, default=FPS, show_default=True)
@click.option("--back-and-forth", is_flag=True, help="The frames, then the same frames backwards.")
def clip(export: Path, out: Path, fps: float, back_and_forth: bool) -> None:
    """Write EXPORT's frames (in file-name order) as an H.264 MP4 OUT."""
    paths, _ = export_frames(export, back_and_forth)
    write_clip([read_image(p) for p in paths], out, fps)
    click.echo(f"{out}: {len(paths)} frames at {fps:g} fps")


@main.command()
@click.argument("poses_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("export", type=click.Path(exists=True, path_type=Path))
@click.option("--back-and-forth", is_flag=True, help="The clip was written with --back-and-forth.")
@click.option("--untracked", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="<stem>_poses.json of `posenet infer` without --track (default: the tracked poses themselves).")
def score(poses_json: Path, export: Path, back_and_forth: bool, untracked: Path | None) -> None:
    """Score POSES_JSON (`posenet infer clip.mp4 --track`) against EXPORT's labels."""
    _, labels = export_frames(export, back_and_forth)
    tracked = [poses_from_json(f) for f in json.loads(poses_json.read_text())["frames"]]
    before = [poses_from_json(f) for f in json.loads(untracked.read_text())["frames"]] if untracked else tracked
    if not len(tracked) == len(before) == len(labels):
        raise click.ClickException(f"{len(tracked)} frames of poses, {len(labels)} labelled frames")
    click.echo(HEADER.rsplit(" ms/frame |", 1)[0] + "\n" + HEADER.splitlines()[1][:-4])
    click.echo(row(poses_json.name, score_tracking(labels, before, tracked)))


@main.command()
@click.option("--labels", "export", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--photos", type=click.Path(exists=True, path_type=Path), required=True, multiple=True,
              help="Photos or folders of photos (repeatable).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path("/tmp/posenet_track_eval"),
              show_default=True)
def measure(export: Path, photos: tuple[Path, ...], cache: Path) -> None:
    """Every tracker setting on the labelled clip (forwards, and back and forth) and on pans over the photos."""
    cache.mkdir(parents=True, exist_ok=True)
    loaded = []

    def run():
        if not loaded:
            loaded.append(predictor())
        return loaded[0]

    clips = []
    for back_and_forth in (False, True):
        paths, labels = export_frames(export, back_and_forth)
        name = f"{export.name}{'_back_and_forth' if back_and_forth else ''}"
        video = cache / f"{name}.mp4"
        if not video.exists():
            write_clip([read_image(p) for p in paths], video)
        size = read_image(paths[0]).shape[1::-1]
        clips.append((f"{name} ({len(paths)} frames, {len(labels[0].identities)} labelled players)",
                      clip_poses(video, cache, run), labels, size))
    pans = []
    for photo_path in expand_inputs(photos):
        photo = read_image(photo_path)
        frames, maps = pan_clip(photo, np.random.default_rng(0))
        reference = run()(photo) if not (cache / f"{photo_path.stem}_reference.json").exists() else None
        if reference is not None:
            (cache / f"{photo_path.stem}_reference.json").write_text(json.dumps(poses_to_json(reference)))
        reference = poses_from_json(json.loads((cache / f"{photo_path.stem}_reference.json").read_text()))
        labels = pan_labels(reference, maps)
        if len({i for f in labels for i in f.identities}) < 2:
            continue                                               # one person: nothing to confuse
        video = cache / f"pan_{photo_path.stem}.mp4"
        if not video.exists():
            write_clip(frames, video)
        pans.append((photo_path.name, clip_poses(video, cache, run), labels, PAN_SIZE))
    for title, frames, labels, size in clips:
        click.echo(f"\n**{title}**\n\n{HEADER}")
        for label, options in SETTINGS:
            tracked, ms = replay(frames, size, **options)
            click.echo(row(label, score_tracking(labels, frames, tracked), ms))
    people = sum(len({i for f in labels for i in f.identities}) for _, _, labels, _ in pans)
    click.echo(f"\n**Camera pans over {len(pans)} photos ({', '.join(n for n, *_ in pans)}; {people} people, "
               f"{PAN_FRAMES} frames each), summed**\n\n{HEADER}")
    for label, options in SETTINGS:
        scores, times = [], []
        for _, frames, labels, size in pans:
            tracked, ms = replay(frames, size, **options)
            scores.append(score_tracking(labels, frames, tracked))
            times.append(ms)
        total = TrackingScore(
            person_frames=sum(s.person_frames for s in scores), found_untracked=sum(s.found_untracked for s in scores),
            found_tracked=sum(s.found_tracked for s in scores), lost=[x for s in scores for x in s.lost],
            id_switches=sum(s.id_switches for s in scores), continued=float(np.mean([s.continued for s in scores])),
            jitter_px=float(np.nanmean([s.jitter_px for s in scores])),
            label_jitter_px=float(np.nanmean([s.label_jitter_px for s in scores])),
            error_px=float(np.nanmean([s.error_px for s in scores])))
        click.echo(row(label, total, float(np.mean(times))))
    for title, frames, labels, size in clips[:1]:
        plain = score_tracking(labels, frames, replay(frames, size)[0])
        click.echo(f"\nLabels' own acceleration on {title}: {plain.label_jitter_px:.2f} px/frame^2")


if __name__ == "__main__":
    main()
