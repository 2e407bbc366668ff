"""Materialised PersonLab targets on disk (the generate_targets stage's ``data/targets/{train,val}/``).

Per split: one compressed ``<image_id>.npz`` per image (the ``Targets`` fields, float32 CHW, plus ``keypoints``
``[P, 17, 3]`` in model-input pixels) and ``index.json`` (geometry and one entry per image).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from posenet.codec.letterbox import letterbox, resize_letterboxed
from posenet.codec.personlab import PersonLabCodec, Targets
from posenet.data.canonical import load_split
from posenet.errors import ImageError, TrainingError
from posenet.io.atomic import write_json_atomic, write_npz_atomic
from posenet.io.media import read_image
from posenet.io.progress import progress_bar
from posenet.training.augment import letterbox_matrix, transform_keypoints

if TYPE_CHECKING:
    from posenet.params import Params

__all__ = ["PreviewSample", "SPLITS", "TARGETS_INDEX", "load_targets", "load_targets_index", "preview_samples",
           "save_targets", "write_split_targets", "write_targets"]

log = logging.getLogger(__name__)


TARGETS_INDEX = "index.json"  # per-split index of the materialised targets (generate_targets stage)
SPLITS: tuple[str, ...] = ("train", "val")


def save_targets(path: str | os.PathLike, targets: Targets, keypoints: np.ndarray) -> None:
    """Write one image's targets and its keypoints ``[P, 17, 3]`` (x, y, v; model-input px) to a compressed
    ``.npz`` (float32 arrays named like the ``Targets`` fields, plus ``keypoints``). Read back by ``load_targets``."""
    write_npz_atomic(path, {"keypoints": np.asarray(keypoints, dtype=np.float32), **targets._asdict()})


def load_targets(path: str | os.PathLike) -> tuple[Targets, np.ndarray]:
    """Read a ``save_targets`` file -> (Targets, keypoints ``[P, 17, 3]`` model-input px)."""
    with np.load(path) as data:
        return Targets(*(data[name] for name in Targets._fields)), data["keypoints"]


def write_split_targets(annotations: str | os.PathLike, images_dir: str | os.PathLike, out: str | os.PathLike,
                        input_size: int, output_stride: int, radius: float) -> dict[str, Any]:
    """Materialise the targets of one split (canonical COCO keypoints file ``annotations``) into the existing,
    empty folder ``out``: one ``<image_id>.npz`` per image (``save_targets``; keypoints letterboxed to a square
    ``input_size`` with the Predictor's geometry) plus ``index.json``. Returns the index.

    Raises ImageError when an image named by the annotations is missing from ``images_dir``.
    """
    annotations, images_dir, out = Path(annotations), Path(images_dir), Path(out)
    images, keypoints = load_split(annotations)
    input_hw = (input_size, input_size)
    codec = PersonLabCodec(input_hw, output_stride, radius)
    entries, build_ms = [], 0.0
    for record in progress_bar(images, desc=f"targets {annotations.stem}", unit="img", leave=False):
        if not (images_dir / record["file_name"]).is_file():
            raise ImageError(f"{images_dir / record['file_name']}: image of {annotations} not found")
        image_hw = (int(record["height"]), int(record["width"]))
        kps = transform_keypoints(keypoints[int(record["id"])], letterbox_matrix(image_hw, input_hw), input_hw)
        start = time.perf_counter()
        targets = codec.encode(kps)
        build_ms += (time.perf_counter() - start) * 1e3
        name = f"{int(record['id'])}.npz"
        save_targets(out / name, targets, kps)
        entries.append({"image_id": int(record["id"]), "file_name": record["file_name"], "targets": name,
                        "persons": int(len(kps)), "labelled_keypoints": int((kps[..., 2] > 0).sum())})
    if not entries:
        log.warning("%s: no images; the split's targets are empty", annotations)
    else:
        log.info("%s: %d images, encode %.2f ms/image", annotations, len(entries), build_ms / len(entries))
    index = {"input_size": input_size, "output_stride": output_stride, "radius": radius, "labelled": "v > 0",
             "fields": list(Targets._fields) + ["keypoints"], "images": entries}
    write_json_atomic(out / TARGETS_INDEX, index)
    return index


def write_targets(annotations_dir: str | os.PathLike, images_dir: str | os.PathLike, out: str | os.PathLike,
                  input_size: int, output_stride: int, radius: float,
                  splits: Sequence[str] = SPLITS) -> dict[str, dict[str, Any]]:
    """``write_split_targets`` for ``<annotations_dir>/<split>.json`` into new folders ``<out>/<split>/``;
    returns ``{split: index}``. ``out`` must exist (make it atomic with ``posenet.io.atomic_dir``)."""
    indexes = {}
    for split in splits:
        (Path(out) / split).mkdir()
        indexes[split] = write_split_targets(Path(annotations_dir) / f"{split}.json", images_dir, Path(out) / split,
                                             input_size, output_stride, radius)
    return indexes


PreviewSample = tuple[str, np.ndarray, np.ndarray, Targets]  # title, model-input RGB image, keypoints, targets


def preview_samples(indexes: Mapping[str, Mapping[str, Any]], targets_dir: str | os.PathLike,
                    images_dir: str | os.PathLike, count: int) -> list[PreviewSample]:
    """Up to ``count`` annotated images of the ``write_targets`` output ``targets_dir`` (``indexes``: its
    ``{split: index}``), letterboxed like the Predictor: (title, RGB uint8 [S, S, 3], keypoints [P, 17, 3]
    model-input px, Targets). Readable ones first: 1 to 4 persons, most labelled keypoints; train before val.
    """
    order = list(indexes)
    candidates = [(split, e) for split in order for e in indexes[split]["images"] if e["labelled_keypoints"]]
    candidates.sort(key=lambda se: (not 1 <= se[1]["persons"] <= 4, order.index(se[0]),
                                    -se[1]["labelled_keypoints"]))
    samples = []
    for split, entry in candidates[:count]:
        size = indexes[split]["input_size"]
        image = read_image(Path(images_dir) / entry["file_name"])
        pixels = resize_letterboxed(image, letterbox(image.shape[:2], (size, size)))
        targets, kps = load_targets(Path(targets_dir) / split / entry["targets"])
        title = f"{split}: {entry['file_name']} ({entry['persons']} persons)"
        samples.append((title, np.clip(pixels, 0, 255).astype(np.uint8), kps, targets))
    return samples


def load_targets_index(folder: Path, params: Params) -> list[dict[str, Any]]:
    """The image entries (``file_name``, ``targets``) of the materialised targets in ``folder``
    (``index.json`` of the generate_targets stage). TrainingError when the folder or index is missing or
    unreadable, or when the targets were built for another ``targets.input_size``, ``model.stride`` or
    ``targets.radius`` than ``params`` (stale)."""
    index_path = folder / TARGETS_INDEX
    if not index_path.is_file():
        raise TrainingError(f"{index_path} not found: the val loss needs the val targets of the generate_targets "
                            "stage (run `dvc repro generate_targets`, or set train.eval_every: 0)")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        built = int(index["input_size"]), int(index["output_stride"]), float(index["radius"])
        entries = [{"file_name": str(e["file_name"]), "targets": str(e["targets"])} for e in index["images"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"{index_path}: unreadable targets index ({err!r}); rerun the generate_targets stage") \
            from err
    wanted = params.targets.input_size, params.model.stride, float(params.targets.radius)
    if built != wanted:
        raise TrainingError(
            f"{folder}: stale targets, built for input size {built[0]}, stride {built[1]}, radius {built[2]:g} but "
            f"params have targets.input_size {wanted[0]}, model.stride {wanted[1]}, targets.radius {wanted[2]:g}; "
            "rerun the generate_targets stage")
    if not entries:
        log.warning("%s: no val images; the val loss is not computed", index_path)
    return entries
