"""evaluate stage: COCO OKS keypoint metrics of the pretrained and the trained model on the val split.

Reads params ``model`` and ``predict`` (the decoding settings every consumer uses) and writes, atomically,
``reports/coco.json`` = ``{"pretrained": {AP, AP50, AP75, APm, APl, AR}, "trained": {...},
"pretrained_presets": {"tfjs": {...}, "fast": {...}, "accurate": {...}}}``: the first two under
``predict.preset``, the last the pretrained model under every Predictor preset (README "Speed and accuracy"); and
the DVC metric ``reports/metrics.json`` = ``{"pretrained": {"AP"}, "trained": {"AP"}}``, small so that ``dvc
metrics show`` fits a 120-column terminal.
"""

from __future__ import annotations

import logging

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, user_errors, val_models_options
from posenet.evaluation.coco import evaluate_predictor, evaluate_presets
from posenet.inference.predictor import Predictor
from posenet.inference.presets import PRESETS
from posenet.io.atomic import write_json_atomic
from posenet.models.factory import load_model
from posenet.params import load_params

log = logging.getLogger("stages.evaluate")


@click.command(context_settings=CONTEXT_SETTINGS)
@val_models_options
@click.option("--out", default="reports/metrics.json", show_default=True, type=click.Path(dir_okay=False),
              help="The DVC metric: AP of the pretrained and the trained model.")
@click.option("--details", default="reports/coco.json", show_default=True, type=click.Path(dir_okay=False),
              help="Every COCO statistic of both models, and of the pretrained one per preset.")
@logging_options
@user_errors
def main(params_path: str | None, annotations: str, images_dir: str, pretrained: str | None, trained: str,
         out: str, details: str) -> None:
    """Evaluate the pretrained and the trained model (and the pretrained one per preset) on the val split."""
    params = load_params(params_path)
    models = {name: load_model(params.model.name, params.model.stride, weights=weights)
              for name, weights in (("pretrained", pretrained), ("trained", trained))}
    metrics = {}
    for name, model in models.items():
        metrics[name], _ = evaluate_predictor(Predictor.from_params(params, model=model), annotations, images_dir)
        log.info("%s: %s", name, ", ".join(f"{k} {v:.4f}" for k, v in metrics[name].items()))
    others = [p for p in PRESETS if p != params.predict.preset]
    presets = {params.predict.preset: metrics["pretrained"],
               **evaluate_presets(params, models["pretrained"], annotations, images_dir, others)}
    metrics["pretrained_presets"] = {p: presets[p] for p in PRESETS}
    log.info("pretrained AP per preset: %s", ", ".join(f"{p} {m['AP']:.4f}" for p, m in presets.items()))
    write_json_atomic(details, metrics)
    write_json_atomic(out, {name: {"AP": metrics[name]["AP"]} for name in models})


if __name__ == "__main__":
    main()
