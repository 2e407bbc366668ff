"""generate_targets stage: PersonLab ground truth of the train and val splits -> data/targets/{train,val}/.

Reads params ``model.stride`` and ``targets.*``; each image's keypoints are letterboxed to
``targets.input_size`` with the Predictor's geometry (``posenet.preprocess.letterbox``), then
``posenet.targets.build_targets`` gives the targets. Per split: one compressed ``<image_id>.npz`` per image
(the ``Targets`` fields, float32 CHW, plus ``keypoints`` [P,17,3] in model-input pixels) and ``index.json``.
The whole ``data/targets`` folder is replaced atomically. A preview figure draws the targets of a few
training images over the letterboxed photos.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm import tqdm

from posenet.augment import letterbox_matrix, transform_keypoints
from posenet.cli import setup_logging, user_errors
from posenet.data.dataset import load_split
from posenet.errors import ImageError
from posenet.images import read_image
from posenet.io import atomic_dir, atomic_path, write_json_atomic
from posenet.params import load_params
from posenet.preprocess import letterbox, resize_letterboxed
from posenet.targets import TARGETS_INDEX, Targets, build_targets, load_targets, plot_targets, save_targets

log = logging.getLogger("stages.generate_targets")
SPLITS = ("train", "val")


def write_split(annotations: Path, images_dir: Path, out: Path, input_size: int, stride: int,
                radius: float) -> dict[str, Any]:
    """Write the targets of one split into the (new, empty) folder ``out``; returns its index."""
    images, keypoints = load_split(annotations)
    input_hw = (input_size, input_size)
    entries, build_ms = [], 0.0
    for record in tqdm(images, desc=f"targets {annotations.stem}", unit="img", leave=False):
        if not (images_dir / record["file_name"]).is_file():
            raise ImageError(f"{images_dir / record['file_name']}: image of {annotations} not found")
        image_hw = (int(record["height"]), int(record["width"]))
        kps = transform_keypoints(keypoints[int(record["id"])], letterbox_matrix(image_hw, input_hw), input_hw)
        start = time.perf_counter()
        targets = build_targets(kps, input_hw, stride, radius)
        build_ms += (time.perf_counter() - start) * 1e3
        name = f"{int(record['id'])}.npz"
        save_targets(out / name, targets, kps)
        entries.append({"image_id": int(record["id"]), "file_name": record["file_name"], "targets": name,
                        "persons": int(len(kps)), "labelled_keypoints": int((kps[..., 2] > 0).sum())})
    if not entries:
        log.warning("%s: no images; the split's targets are empty", annotations)
    else:
        log.info("%s: %d images, build_targets %.2f ms/image", annotations, len(entries), build_ms / len(entries))
    return {"input_size": input_size, "output_stride": stride, "radius": radius, "labelled": "v > 0",
            "fields": list(Targets._fields) + ["keypoints"], "images": entries}


def draw_preview(path: Path, samples: list[tuple[str, np.ndarray, np.ndarray, Targets]], input_size: int,
                 stride: int, radius: float, empty_note: str) -> None:
    """Preview figure: one row per sample, four panels (disks, offsets, fwd, bwd displacements);
    ``empty_note`` is written instead when there is no sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(samples), 1)
    fig, axes = plt.subplots(rows, 4, figsize=(20, 5 * rows + 0.6), squeeze=False)
    for row, (title, image, kps, targets) in zip(axes, samples):
        plot_targets(row, image, kps, targets, stride, radius)
        row[0].set_ylabel(title, fontsize=9)
    if not samples:
        for ax in axes[0]:
            ax.axis("off")
        axes[0][0].text(0.0, 0.5, empty_note, fontsize=14)
    fig.suptitle(f"PersonLab targets over the letterboxed input ({input_size} px, "
                 f"stride {stride}, R = {radius:g} px); white: labelled keypoints and pose chain; arrows start at grid cells",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=2.0)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def preview_samples(indexes: dict[str, dict[str, Any]], targets_dir: Path, images_dir: Path,
                    count: int) -> list[tuple[str, np.ndarray, np.ndarray, Targets]]:
    """Up to ``count`` annotated images, letterboxed like the Predictor.

    Readable ones first: 1 to 4 persons, most labelled keypoints; train before val.
    """
    candidates = [(split, e) for split in SPLITS for e in indexes[split]["images"] if e["labelled_keypoints"]]
    candidates.sort(key=lambda se: (not 1 <= se[1]["persons"] <= 4, se[0] != "train", -se[1]["labelled_keypoints"]))
    samples = []
    for split, entry in candidates[:count]:
        size = indexes[split]["input_size"]
        image = read_image(images_dir / entry["file_name"])
        pixels = resize_letterboxed(image, letterbox(image.shape[:2], (size, size)))
        targets, kps = load_targets(targets_dir / split / entry["targets"])
        title = f"{split}: {entry['file_name']} ({entry['persons']} persons)"
        samples.append((title, np.clip(pixels, 0, 255).astype(np.uint8), kps, targets))
    return samples


@click.command()
@click.option("--params", "params_path", default="params.yaml", show_default=True, help="Parameters file.")
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
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@user_errors
def main(params_path: str, annotations_dir: str, images_dir: str, out: str, figure: str, preview_count: int,
         verbose: bool) -> None:
    """Materialise the PersonLab targets of the train and val splits and draw a preview."""
    setup_logging(verbose)
    params = load_params(params_path)
    size, stride, radius = params.targets.input_size, params.model.stride, params.targets.radius
    images = Path(images_dir)
    indexes = {}
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir()
            indexes[split] = write_split(Path(annotations_dir) / f"{split}.json", images, tmp / split,
                                         size, stride, radius)
            write_json_atomic(tmp / split / TARGETS_INDEX, indexes[split])
        samples = preview_samples(indexes, tmp, images, preview_count)
    note = "no preview (--preview 0)" if preview_count == 0 else "no annotated persons in the train or val split"
    draw_preview(Path(figure), samples, size, stride, radius, note)
    log.info("targets of %s written to %s, preview %s",
             ", ".join(f"{len(indexes[s]['images'])} {s}" for s in SPLITS), out, figure)


if __name__ == "__main__":
    main()
