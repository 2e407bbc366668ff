"""Ad hoc inference on images, folders, globs, videos and webcams (the library behind ``stages/infer.py``).

Outputs in ``out_dir``:

* ``poses.json``: ``{input image path: [pose dicts]}`` (schema of :mod:`posenet.pose`), or with
  ``fmt="coco"`` ``coco_results.json``: COCO keypoint results with image ids from an annotation file;
* one overlay per image (skeletons, keypoints, pose scores; optionally a heatmap), named like the input;
* per video (or webcam): ``<stem>_pose.mp4`` annotated video (H.264) and ``<stem>_poses.json``
  ``{"source", "fps", "frames": [[pose dicts] per frame]}``; with tracking every trackable pose carries its
  ``track_id`` and is drawn in its track's colour.

A bad input is logged as one ERROR line naming it, recorded in :attr:`InferSummary.failed`, and the
run goes on. Every output file is written atomically, and ``out_dir`` is locked while a run writes to it (a second
run on the same folder fails at once: its ``poses.json`` would replace the first one's).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenet.apps.video import annotate_video, poses_record
from posenet.data.files import load_json
from posenet.errors import AnnotationError, ImageError, PosenetError
from posenet.evaluation.coco import coco_results
from posenet.io.atomic import UniqueNames, folder_lock, write_json_atomic
from posenet.io.media import expand_inputs, is_video, read_image, write_image
from posenet.io.progress import progress_bar
from posenet.pose import Pose, poses_to_json, shown_poses
from posenet.tracking.pipeline import VideoTracking
from posenet.viz.drawing import MIN_PART_SCORE, MIN_POSE_SCORE, draw_poses, heatmap_overlay, part_index

if TYPE_CHECKING:
    from posenet.inference.predictor import Prediction, Predictor

__all__ = ["InferOutputs", "InferSummary", "Inferencer", "load_coco_image_ids"]

log = logging.getLogger(__name__)


@dataclass
class InferSummary:
    """What a run did: counts, failures ``(input, message)``, wall time and summed model time (ms)."""

    images: int = 0
    frames: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    model_ms: float = 0.0
    outputs: list[Path] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """Images plus video frames that went through the model."""
        return self.images + self.frames

    def closing_line(self) -> str:
        """One line: counts, end-to-end fps, mean model latency, failures."""
        n = self.processed
        what = ", ".join(s for s in (f"{self.images} images" if self.images or not self.frames else "",
                                     f"{self.frames} video frames" if self.frames else "") if s)
        fps = n / self.seconds if self.seconds > 0 else 0.0
        model = f", model+decode {self.model_ms / n:.1f} ms per image" if n else ""
        failed = f"; {len(self.failed)} input(s) failed" if self.failed else ""
        return f"{what} in {self.seconds:.2f} s: {fps:.2f} fps end to end{model}{failed}"


def load_coco_image_ids(path: str | os.PathLike) -> dict[str, int]:
    """``{file name: image id}`` from a COCO annotation JSON (file names compared by base name)."""
    data = load_json(path)
    try:
        return {Path(im["file_name"]).name: int(im["id"]) for im in data["images"]}
    except (KeyError, TypeError, ValueError) as err:
        raise AnnotationError(f"{path}: not a COCO annotation file (needs images[].file_name and images[].id)") \
            from err


@dataclass(frozen=True)
class InferOutputs:
    """What an inference run writes into ``out_dir`` (see the module docstring).

    render: write overlays / annotated videos. heatmap: part (index or name, ``"all"``: max over parts)
    whose heatmap is blended under the skeletons. fmt: ``json`` or ``coco``; coco_ids: ``{file name: image id}``
    for ``coco``. min_pose_score: poses scoring below it are dropped from everything written (poses.json, overlays,
videos and their JSON; params ``predict.min_pose_score``) except ``coco`` results, which keep every pose (COCO AP
rewards low-scored poses). min_part_score: drawing only, keypoints below it are not drawn.
    batch: still images per forward pass (``Predictor.run_batch``; video frames go one by one).
    track: keyword arguments of :class:`posenet.tracking.VideoTracking` (``TrackParams.options()``) to track (and
    smooth) the poses of each video and webcam; None: frames are estimated independently.
    """

    out_dir: Path
    render: bool = True
    heatmap: int | str | None = None
    fmt: str = "json"
    coco_ids: Mapping[str, int] | None = None
    min_part_score: float = MIN_PART_SCORE
    min_pose_score: float = MIN_POSE_SCORE
    batch: int = 1
    track: Mapping[str, object] | None = None

    def __post_init__(self) -> None:
        if self.fmt not in ("json", "coco"):
            raise PosenetError(f"unknown output format {self.fmt!r} (json or coco)")
        if self.fmt == "coco" and self.coco_ids is None:
            raise PosenetError("--format coco needs a COCO annotation file for the image ids (--coco-annotations)")
        if self.batch < 1:
            raise PosenetError(f"batch = {self.batch} must be at least 1")
        object.__setattr__(self, "out_dir", Path(self.out_dir))


class Inferencer:
    """Runs ``predictor`` (``run_batch(images) -> [Prediction]``) over inputs and writes ``outputs``.

    on_error: called with the one-line message of each bad input (default: logged as an error).
    """

    def __init__(self, predictor: Predictor, outputs: InferOutputs,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.predictor = predictor
        self.outputs = outputs
        self.out_dir = outputs.out_dir
        self.heatmap = None if outputs.heatmap in (None, "all") else part_index(outputs.heatmap)
        self.on_error = on_error or (lambda message: log.error("%s", message))
        self._names = UniqueNames()

    def _annotate(self, image: np.ndarray, prediction: Prediction) -> np.ndarray:
        o = self.outputs
        base = image if o.heatmap is None else heatmap_overlay(image, prediction.heatmap_scores, prediction.letterbox,
                                                               prediction.output_stride, self.heatmap)
        return draw_poses(base, prediction.poses, o.min_part_score, o.min_pose_score)

    def _predict(self, image: np.ndarray, summary: InferSummary) -> Prediction:
        return self._predict_batch([image], summary)[0]

    def _predict_batch(self, images: list[np.ndarray], summary: InferSummary) -> list[Prediction]:
        start = time.perf_counter()  # wall time: with streams the images' own timings overlap
        predictions = self.predictor.run_batch(images)
        summary.model_ms += (time.perf_counter() - start) * 1e3
        if self.outputs.fmt == "coco":
            return predictions
        return [dataclasses.replace(p, poses=shown_poses(p.poses, self.outputs.min_pose_score)) for p in predictions]

    def _fail(self, summary: InferSummary, source: str, err: PosenetError) -> None:
        message = str(err) if source in str(err) else f"{source}: {err}"
        self.on_error(message)
        summary.failed.append((source, message))

    def run(self, inputs: Sequence[str | os.PathLike], webcam: int | None = None, max_frames: int = 0) -> InferSummary:
        """Process every input (and the webcam ``webcam``); each video and the webcam stop after ``max_frames``
        frames (0: at their end, or Ctrl-C for the webcam)."""
        summary = InferSummary()
        start = time.perf_counter()
        items = expand_inputs(inputs)
        images = [p for p in items if not is_video(p)]
        videos = [p for p in items if is_video(p)]
        if not items and webcam is None:
            raise ImageError("no input given (image files, folders, globs, videos or --webcam INDEX)")
        with folder_lock(self.out_dir, "posenet infer"):  # a second run on this folder would mix its outputs in
            if images:
                self._run_images(images, summary)
            for video in videos:
                self._run_video(video, str(video), Path(video).stem, summary, max_frames)
            if webcam is not None:
                self._run_video(webcam, f"webcam {webcam}", f"webcam{webcam}", summary, max_frames)
        summary.seconds = time.perf_counter() - start
        return summary

    def _run_images(self, paths: list[Path], summary: InferSummary) -> None:
        results: dict[str, list[Pose]] = {}
        with progress_bar(total=len(paths), desc="images", unit="img", enabled=len(paths) > 1) as bar:
            for start in range(0, len(paths), self.outputs.batch):
                chunk = paths[start:start + self.outputs.batch]
                loaded = []
                for path in chunk:
                    try:
                        image = read_image(path)
                        if self.outputs.fmt == "coco" and path.name not in self.outputs.coco_ids:
                            raise ImageError(f"{path}: not in the COCO annotation file (no image id for {path.name})")
                        loaded.append((path, image))
                    except PosenetError as err:
                        self._fail(summary, str(path), err)
                predictions = self._predict_batch([image for _, image in loaded], summary) if loaded else []
                for (path, image), prediction in zip(loaded, predictions):
                    try:
                        if self.outputs.render:
                            out = self.out_dir / self._names(path.stem + (path.suffix.lower() or ".jpg"))
                            write_image(out, self._annotate(image, prediction))
                            summary.outputs.append(out)
                    except PosenetError as err:
                        self._fail(summary, str(path), err)
                        continue
                    results[str(path)] = prediction.poses
                    summary.images += 1
                bar.update(len(chunk))
        if not results:
            return                                    # nothing new: leave any earlier output as it was
        if self.outputs.fmt == "coco":
            out = self.out_dir / "coco_results.json"
            ids = self.outputs.coco_ids
            write_json_atomic(out, coco_results({ids[Path(p).name]: poses for p, poses in results.items()}))
        else:
            out = self.out_dir / "poses.json"
            write_json_atomic(out, {p: poses_to_json(poses) for p, poses in results.items()})
        summary.outputs.append(out)

    def _run_video(self, source: Path | int, label: str, stem: str, summary: InferSummary, max_frames: int) -> None:
        name = self._names(f"{stem}_pose.mp4")
        json_name = self._names(f"{stem}_poses.json")
        with progress_bar(desc=label, unit="frame") as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total or None
                bar.update(done - bar.n)

            tracking = VideoTracking(**self.outputs.track) if self.outputs.track is not None else None

            def track(prediction: Prediction, seconds: float, size: tuple[int, int]) -> Prediction:
                return dataclasses.replace(prediction, poses=tracking(prediction.poses, seconds, size))

            try:
                video = annotate_video(source, lambda frame: self._predict(frame, summary),
                                       self._annotate if self.outputs.render else None, self.out_dir / name,
                                       max_frames=max_frames, progress=progress,
                                       keep=lambda prediction: prediction.poses,
                                       track=track if tracking is not None else None)
            except PosenetError as err:
                self._fail(summary, label, err)
                return
        summary.frames += video.frames
        write_json_atomic(self.out_dir / json_name, poses_record(label, video.fps, video.results))
        summary.outputs.append(self.out_dir / json_name)
        if video.path is not None:
            summary.outputs.append(video.path)
