"""Write the canonical dataset: annotations/<split>.json + images/<file_name>, all or nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from posenet.errors import ImageError
from posenet.io.atomic import atomic_dir
from posenet.io.progress import progress_bar

__all__ = ["write_dataset"]

log = logging.getLogger(__name__)


def write_dataset(splits: dict[str, dict[str, Any]], sources: dict[str, Path],
                  annotations_dir: str | os.PathLike, images_dir: str | os.PathLike) -> None:
    """Write ``<annotations_dir>/<split>.json`` for each split and copy every image to ``<images_dir>/<file_name>``.

    ``sources`` maps canonical file names to the image files to copy. Both folders are built beside their
    targets and swapped in only once everything is written, so a failure leaves the previous dataset intact.
    """
    with atomic_dir(images_dir) as tmp_images, atomic_dir(annotations_dir) as tmp_annotations:
        for name, src in progress_bar(sorted(sources.items()), desc="copy images", unit="img", leave=False):
            try:
                shutil.copyfile(src, tmp_images / name)
            except OSError as err:
                raise ImageError(f"{src}: cannot copy image ({err.strerror or err})") from err
        for split, coco in splits.items():
            (tmp_annotations / f"{split}.json").write_text(json.dumps(coco, ensure_ascii=False) + "\n",
                                                           encoding="utf-8")
    log.info("wrote %s (%s) and %d images to %s", annotations_dir, ", ".join(splits), len(sources), images_dir)
