"""Visualize stage -> reports/figures/visualize/ (the whole folder is replaced atomically).

Per val image (at most ``visualize.max_images``): ground truth, pretrained and trained skeletons side by side
(``<stem>_skeletons.png``), the trained model's 17 heatmaps (``<stem>_heatmaps.png``), its short-range offsets
(``<stem>_offsets.png``) and mid-range displacements (``<stem>_displacements.png``) for the strongest part and
the longest confident edge; plus the training curves from DVCLive (``training_curves.png``) and one contact sheet of the trained
model's skeletons on every rendered image (``contact_sheet.png``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from posenet import viz
from posenet.cli import setup_logging, user_errors
from posenet.constants import NUM_KEYPOINTS, POSE_CHAIN
from posenet.data.dataset import load_split
from posenet.errors import AnnotationError
from posenet.images import read_image
from posenet.io import atomic_dir
from posenet.models import load_model
from posenet.params import load_params
from posenet.pose import Pose
from posenet.predict import Prediction, Predictor

log = logging.getLogger("stages.visualize")


def ground_truth_poses(keypoints: np.ndarray) -> list[Pose]:
    """Annotated persons ``[P, 17, 3]`` (x, y, v) with at least one labelled keypoint as Poses: labelled
    keypoints score 1, unlabelled 0."""
    return [Pose(score=1.0, keypoints=person[:, :2], keypoint_scores=(person[:, 2] > 0).astype(np.float64))
            for person in keypoints if (person[:, 2] > 0).any()]


def telling_edge(prediction: Prediction) -> int:
    """The pose-chain edge with the longest forward displacement at its parent's heatmap peak, among edges
    whose parent peaks at >= 0.5 (long limbs show the mid-range field best; face edges are a few pixels)."""
    scores = prediction.heatmap_scores.reshape(-1, NUM_KEYPOINTS)
    peaks, cells = scores.max(axis=0), scores.argmax(axis=0)
    parents = np.array([parent for parent, _ in POSE_CHAIN])
    disp = prediction.displacements_fwd.reshape(-1, 2 * len(POSE_CHAIN))
    edges = np.arange(len(POSE_CHAIN))
    lengths = np.hypot(disp[cells[parents], edges], disp[cells[parents], edges + len(POSE_CHAIN)])
    strong = peaks[parents] >= 0.5
    return int(np.argmax(np.where(strong, lengths, -1.0))) if strong.any() else int(np.argmax(peaks[parents]))


@click.command()
@click.option("--params", "params_path", default="params.yaml", show_default=True, help="Parameters file.")
@click.option("--annotations", default="data/annotations/val.json", show_default=True,
              type=click.Path(dir_okay=False), help="Canonical COCO-keypoints val split.")
@click.option("--images", "images_dir", default="data/images", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the dataset images.")
@click.option("--pretrained", default=None, type=click.Path(dir_okay=False),
              help="Pretrained checkpoint [default: models/pretrained/<model.name>.pt].")
@click.option("--trained", default="models/trained/model.pt", show_default=True, type=click.Path(dir_okay=False),
              help="Trained checkpoint.")
@click.option("--metrics-dir", default="dvclive/plots/metrics", show_default=True, type=click.Path(file_okay=False),
              help="DVCLive metric TSVs for the training curves (skipped with a warning when absent).")
@click.option("--out", default="reports/figures/visualize", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (replaced whole).")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Val images to render [default: visualize.max_images].")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@user_errors
def main(params_path: str, annotations: str, images_dir: str, pretrained: str | None, trained: str,
         metrics_dir: str, out: str, max_images: int | None, verbose: bool) -> None:
    """Render skeleton, heatmap, offset, displacement, training-curve and contact-sheet figures."""
    setup_logging(verbose)
    params = load_params(params_path)
    name, stride = params.model.name, params.model.stride
    min_score = params.visualize.min_score
    records, persons = load_split(annotations)
    records = records[: max_images or params.visualize.max_images]
    if not records:
        raise AnnotationError(f"{annotations}: no images in the val split")
    pretrained = pretrained or str(Path("models/pretrained") / f"{name}.pt")
    predictors = {tag: Predictor.from_params(params, weights=path)
                  for tag, path in (("pretrained", pretrained), ("trained", trained))}
    log.info("rendering %d val images with %s (stride %d, input %d)", len(records), name, stride,
             params.predict.input_size)
    sheet, sheet_titles = [], []
    with atomic_dir(out) as tmp:
        for record in records:
            image = read_image(Path(images_dir) / record["file_name"])
            stem = Path(record["file_name"]).stem
            truth = ground_truth_poses(persons[int(record["id"])])
            runs = {tag: predictor.run(image) for tag, predictor in predictors.items()}
            panels = [viz.draw_poses(image, truth, 0.5, min_pose_score=0.0, show_scores=False)] + [
                viz.draw_poses(image, runs[t].poses, min_score) for t in ("pretrained", "trained")]
            titles = [f"ground truth: annotated persons: {len(truth)}"] + [
                f"{t}: poses with score >= {viz.MIN_POSE_SCORE}: "
                f"{sum(p.score >= viz.MIN_POSE_SCORE for p in runs[t].poses)}" for t in ("pretrained", "trained")]
            viz.save_figure(viz.side_by_side(panels, titles, suptitle=record["file_name"]),
                            tmp / f"{stem}_skeletons.png")
            run = runs["trained"]
            viz.save_figure(viz.heatmap_grid(image, run, title=f"{record['file_name']}: trained model heatmaps"),
                            tmp / f"{stem}_heatmaps.png")
            part = int(np.argmax(run.heatmap_scores.reshape(-1, NUM_KEYPOINTS).max(axis=0)))
            viz.save_figure(viz.offset_field(image, run, part), tmp / f"{stem}_offsets.png")
            viz.save_figure(viz.displacement_field(image, run, telling_edge(run), "fwd"),
                            tmp / f"{stem}_displacements.png")
            sheet.append(panels[2])
            sheet_titles.append(f"{record['file_name']}\n{titles[2]}")
        viz.save_figure(viz.contact_sheet(sheet, sheet_titles, cols=3, suptitle="trained model on the val images"),
                        tmp / "contact_sheet.png")
        if Path(metrics_dir).is_dir():
            viz.save_figure(viz.training_curves(metrics_dir), tmp / "training_curves.png")
        else:
            log.warning("%s not found: no training curves (run the train stage)", metrics_dir)
    log.info("figures written to %s", out)


if __name__ == "__main__":
    main()
