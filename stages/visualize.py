"""Visualize stage -> reports/figures/visualize/ (the whole folder is replaced atomically).

Per val image (at most ``visualize.max_images``): ground truth, pretrained and trained skeletons side by side
(``<stem>_skeletons.png``), the trained model's 17 heatmaps (``<stem>_heatmaps.png``), its short-range offsets
(``<stem>_offsets.png``) and mid-range displacements (``<stem>_displacements.png``) for the strongest part and
the longest confident edge; plus the training curves from DVCLive (``training_curves.png``) and one contact sheet
of the trained model's skeletons on every rendered image (``contact_sheet.png``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, user_errors, val_models_options
from posenet.data.canonical import load_split
from posenet.errors import AnnotationError
from posenet.inference.predictor import Predictor
from posenet.io.atomic import atomic_dir
from posenet.params import load_params
from posenet.viz import figures, predictions, training_curves

log = logging.getLogger("stages.visualize")


@click.command(context_settings=CONTEXT_SETTINGS)
@val_models_options
@click.option("--metrics-dir", default="dvclive/plots/metrics", show_default=True, type=click.Path(file_okay=False),
              help="DVCLive metric TSVs for the training curves (skipped with a warning when absent).")
@click.option("--out", default="reports/figures/visualize", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (replaced whole).")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="Val images to render [default: visualize.max_images].")
@logging_options
@user_errors
def main(params_path: str | None, annotations: str, images_dir: str, pretrained: str | None, trained: str,
         metrics_dir: str, out: str, max_images: int | None) -> None:
    """Render skeleton, heatmap, offset, displacement, training-curve and contact-sheet figures."""
    params = load_params(params_path)
    name, stride = params.model.name, params.model.stride
    min_score = params.visualize.min_score
    records, persons = load_split(annotations)
    records = records[: max_images or params.visualize.max_images]
    if not records:
        raise AnnotationError(f"{annotations}: no images in the val split")
    pretrained_predictor = Predictor.from_params(params, weights=pretrained)  # None: models/pretrained/<name>.pt
    trained_predictor = Predictor.from_params(params, weights=trained)
    log.info("rendering %d val images with %s (stride %d, input %d)", len(records), name, stride,
             params.predict.input_size)
    with atomic_dir(out) as tmp:
        predictions.render_val_figures(records, persons, images_dir, pretrained_predictor, trained_predictor, tmp,
                                   min_score)
        if Path(metrics_dir).is_dir():
            figures.save_figure(training_curves.training_curves(metrics_dir), tmp / "training_curves.png")
        else:
            log.warning("%s not found: no training curves (run the train stage)", metrics_dir)
    log.info("figures written to %s", out)


if __name__ == "__main__":
    main()
