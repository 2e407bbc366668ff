"""Stage fetch_annotations: a Dataloop / Roboflow / COCO export -> data/annotations/{train,val[,test]}.json +
data/images/.

Reads the ``data:`` section of params.yaml (source local|dataloop|roboflow, format, path, split rule) and writes a
canonical COCO-keypoints dataset plus reports/data_summary.json (the split rule used, counts per split); test.json
only when the export has a test split. Options override params.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.data.pipeline import build_dataset
from posenet.data.split import SPLITS
from posenet.params import load_params

log = logging.getLogger("fetch_annotations")


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--source", type=click.Choice(["local", "dataloop", "roboflow"]), default=None,
              help="where the export comes from (default: params data.source)")
@click.option("--format", "fmt", default=None, help="local export format (default: params data.format)")
@click.option("--path", default=None,
              help="local export folder; for coco the JSON file or a folder of per-split JSON files "
                   "(default: params data.path)")
@click.option("--images", default=None, help="image folder for format coco (default: params data.images)")
@click.option("--annotations-dir", default="data/annotations", show_default=True,
              help="output train.json / val.json (/ test.json)")
@click.option("--images-dir", default="data/images", show_default=True, help="output image folder")
@click.option("--summary", default="reports/data_summary.json", show_default=True, help="output summary JSON")
@logging_options
@user_errors
def main(params_path: str | None, source: str | None, fmt: str | None, path: str | None, images: str | None,
         annotations_dir: str, images_dir: str, summary: str) -> None:
    """Read a Dataloop / Roboflow / COCO keypoint export and write the canonical train/val dataset."""
    params = load_params(params_path)
    overrides = {k: v for k, v in {"source": source, "format": fmt, "path": path, "images": images}.items()
                 if v is not None}
    data = dataclasses.replace(params.data, **overrides)
    data.validate()
    start = time.perf_counter()
    result = build_dataset(data, annotations_dir, images_dir, summary)
    counts = ", ".join(f"{split} {result[split]['images']} images / {result[split]['persons']} persons"
                       for split in SPLITS if split in result)
    skipped = f", {result['skipped_items']} item(s) skipped (see warnings)" if result["skipped_items"] else ""
    click.echo(f"{result['format']}, {result['split']['rule']} split: {counts}{skipped} -> {annotations_dir}, "
               f"{images_dir} in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
