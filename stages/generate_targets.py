"""generate_targets stage: PersonLab ground truth of the train and val splits -> data/targets/{train,val}/.

Reads params ``model.stride`` and ``targets.*``; each image's keypoints are letterboxed to
``targets.input_size`` with the Predictor's geometry (``posenet.preprocess.letterbox``), then
``posenet.codec.PersonLabCodec.encode`` gives the targets. Per split: one compressed ``<image_id>.npz`` per image
(the ``Targets`` fields, float32 CHW, plus ``keypoints`` [P,17,3] in model-input pixels) and ``index.json``.
The whole ``data/targets`` folder is replaced atomically. A preview figure draws the targets of a few
training images over the letterboxed photos.
"""

from __future__ import annotations

import logging

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.io.atomic import atomic_dir
from posenet.params import load_params
from posenet.training.target_store import preview_samples, write_targets
from posenet.viz.targets import save_targets_preview

log = logging.getLogger("stages.generate_targets")


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--annotations", "annotations_dir", default="data/annotations", show_default=True,
              type=click.Path(file_okay=False), help="Folder with train.json and val.json (canonical COCO keypoints).")
@click.option("--images", "images_dir", default="data/images", show_default=True, type=click.Path(file_okay=False),
              help="Folder with the images named by the annotations.")
@click.option("--out", default="data/targets", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (replaced whole).")
@click.option("--figure", default="reports/figures/targets_preview.png", show_default=True,
              type=click.Path(dir_okay=False), help="Preview figure.")
@click.option("--preview", "preview_count", default=3, show_default=True, type=click.IntRange(min=0),
              help="Images in the preview figure.")
@logging_options
@user_errors
def main(params_path: str | None, annotations_dir: str, images_dir: str, out: str, figure: str,
         preview_count: int) -> None:
    """Materialise the PersonLab targets of the train and val splits and draw a preview."""
    params = load_params(params_path)
    size, stride, radius = params.targets.input_size, params.model.stride, params.targets.radius
    with atomic_dir(out) as tmp:
        indexes = write_targets(annotations_dir, images_dir, tmp, size, stride, radius)
        samples = preview_samples(indexes, tmp, images_dir, preview_count)
    note = "no preview (--preview 0)" if preview_count == 0 else "no annotated persons in the train or val split"
    save_targets_preview(figure, samples, size, stride, radius, note)
    log.info("targets of %s written to %s, preview %s",
             ", ".join(f"{len(index['images'])} {split}" for split, index in indexes.items()), out, figure)


if __name__ == "__main__":
    main()
