"""evaluate stages: COCO OKS keypoint metrics on the val split (and the test split when there is one), in two DVC
stages so that a change of ``train.*`` re-scores only the trained model.

``--which pretrained`` (stage evaluate_pretrained) scores Google's model: on val under ``predict.preset``, on test,
and on val under every preset of ``evaluate.presets`` -> ``reports/coco_pretrained.json`` = ``{"val", "test",
"presets": {preset: metrics}}``. ``--which trained`` (stage evaluate) scores the trained model and joins those
numbers -> ``reports/coco.json`` = ``{"pretrained", "trained", "gain" (trained - pretrained val metrics),
"test": {"pretrained", "trained", "gain"}, "pretrained_presets"}`` (``test`` only with a test split), and the DVC
metric ``reports/metrics.json`` = ``{"pretrained": {"AP"}, "trained": {"AP"}, "test": {...}}``, the AP alone so that
``dvc metrics show`` fits a 120-column terminal. Metrics: ``{AP, AP50, AP75, APm, APl, AR}``. Files are written
atomically.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, user_errors, val_models_options
from posenet.errors import ModelError
from posenet.evaluation.coco import evaluate_predictor, evaluate_presets
from posenet.inference.predictor import Predictor
from posenet.io.atomic import write_json_atomic
from posenet.models.factory import load_model
from posenet.params import Params, load_params

log = logging.getLogger("stages.evaluate")


def _score(params: Params, model: Any, annotations: str, test: Path, images_dir: str) -> dict[str, Any]:
    """{"val": metrics, "test": metrics (when ``test`` exists)} of ``model`` under ``predict.preset``."""
    predictor = Predictor.from_params(params, model=model)
    scores = {"val": evaluate_predictor(predictor, annotations, images_dir)[0]}
    if test.is_file():
        scores["test"] = evaluate_predictor(predictor, test, images_dir)[0]
    return scores


def _gain(trained: dict[str, float], pretrained: dict[str, float]) -> dict[str, float]:
    return {k: trained[k] - pretrained[k] for k in trained}


def _read_pretrained(path: str) -> dict[str, Any]:
    """The evaluate_pretrained stage's file; ModelError naming it (and the stage to run) when missing or bad."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("val"), dict):
            raise ValueError("no 'val' metrics")
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: pretrained metrics unreadable ({err.__class__.__name__}); run the "
                         "evaluate_pretrained stage (`dvc repro evaluate_pretrained`)") from err
    return data


@click.command(context_settings=CONTEXT_SETTINGS)
@val_models_options
@click.option("--test", "test", default="data/annotations/test.json", show_default=True,
              type=click.Path(dir_okay=False), help="Test split, scored when the file exists.")
@click.option("--which", type=click.Choice(["pretrained", "trained"]), default="trained", show_default=True,
              help="pretrained: score Google's model (and its presets) into --pretrained-metrics; trained: score the "
                   "trained model and join the pretrained numbers into --out.")
@click.option("--pretrained-metrics", default="reports/coco_pretrained.json", show_default=True,
              type=click.Path(dir_okay=False), help="The pretrained model's metrics (written, or read).")
@click.option("--out", default="reports/metrics.json", show_default=True, type=click.Path(dir_okay=False),
              help="The DVC metric of --which trained: the AP of each model.")
@click.option("--details", default="reports/coco.json", show_default=True, type=click.Path(dir_okay=False),
              help="Every COCO statistic of --which trained: both models, the gain, the test split, the presets.")
@logging_options
@user_errors
def main(params_path: str | None, annotations: str, images_dir: str, pretrained: str | None, trained: str,
         test: str, which: str, pretrained_metrics: str, out: str, details: str) -> None:
    """Score the pretrained model (--which pretrained) or the trained one (--which trained) on val and test."""
    params = load_params(params_path)
    if which == "pretrained":
        model = load_model(params.model.name, params.model.stride, weights=pretrained)
        scores = _score(params, model, annotations, Path(test), images_dir)
        others = [p for p in params.evaluate.presets if p != params.predict.preset]
        presets = {params.predict.preset: scores["val"],
                   **evaluate_presets(params, model, annotations, images_dir, others)}
        scores["presets"] = {p: presets[p] for p in params.evaluate.presets}
        log.info("pretrained: val AP %.4f%s; per preset: %s", scores["val"]["AP"],
                 f", test AP {scores['test']['AP']:.4f}" if "test" in scores else "",
                 ", ".join(f"{p} {m['AP']:.4f}" for p, m in scores["presets"].items()))
        write_json_atomic(pretrained_metrics, scores)
        return
    before = _read_pretrained(pretrained_metrics)
    model = load_model(params.model.name, params.model.stride, weights=trained)
    scores = _score(params, model, annotations, Path(test), images_dir)
    metrics: dict[str, Any] = {"pretrained": before["val"], "trained": scores["val"],
                               "gain": _gain(scores["val"], before["val"])}
    headline: dict[str, Any] = {"pretrained": {"AP": before["val"]["AP"]}, "trained": {"AP": scores["val"]["AP"]}}
    if "test" in scores and "test" in before:
        metrics["test"] = {"pretrained": before["test"], "trained": scores["test"],
                           "gain": _gain(scores["test"], before["test"])}
        headline["test"] = {name: {"AP": m["AP"]} for name, m in metrics["test"].items() if name != "gain"}
    metrics["pretrained_presets"] = before.get("presets", {})
    log.info("val AP: pretrained %.4f, trained %.4f (%+.4f)%s", before["val"]["AP"], scores["val"]["AP"],
             metrics["gain"]["AP"], f"; test AP: pretrained {before['test']['AP']:.4f}, trained "
             f"{scores['test']['AP']:.4f}" if "test" in metrics else "")
    write_json_atomic(details, metrics)
    write_json_atomic(out, headline)


if __name__ == "__main__":
    main()
