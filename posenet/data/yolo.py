"""Pieces shared by the YOLO-style Roboflow readers: data.yaml, split folders, label files, class ids."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from posenet.data.files import index_images, load_yaml
from posenet.data.imagemeta import probe_image
from posenet.errors import AnnotationError

log = logging.getLogger(__name__)

SPLIT_KEYS: tuple[str, ...] = ("train", "val", "test")


def load_data_yaml(root: Path, required: bool = True) -> dict[str, Any] | None:
    """``<root>/data.yaml`` as a dict; ``None`` when absent and not ``required``."""
    path = root / "data.yaml"
    if not path.is_file():
        if required:
            raise AnnotationError(f"{root}: no data.yaml (expected a Roboflow YOLO export folder)")
        return None
    return load_yaml(path)


def class_names(data: dict[str, Any], root: Path) -> list[str]:
    """``names`` of data.yaml (list, or {id: name}) checked against ``nc``."""
    names = data.get("names")
    if isinstance(names, dict):
        try:
            names = [names[i] for i in range(len(names))]
        except KeyError:
            raise AnnotationError(f"{root / 'data.yaml'}: names must map ids 0..n-1 to names") from None
    if not isinstance(names, list) or not names:
        raise AnnotationError(f"{root / 'data.yaml'}: field 'names' must be a non-empty list of class names")
    if "nc" in data and data["nc"] != len(names):
        raise AnnotationError(f"{root / 'data.yaml'}: nc = {data['nc']!r} but names lists {len(names)} classes")
    return [str(n) for n in names]


def _resolve_split(root: Path, value: str) -> Path | None:
    """Roboflow writes ``../train/images`` (relative to a folder below the root) or ``train/images``."""
    raw = PurePosixPath(str(value).replace("\\", "/"))
    stripped = PurePosixPath(*[p for p in raw.parts if p not in ("..", ".")]) if raw.parts else raw
    literal = (root / raw).resolve()  # only if it stays inside the export
    for candidate in (root / stripped, literal if literal.is_relative_to(root.resolve()) else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def image_dirs(root: Path, data: dict[str, Any] | None) -> list[Path]:
    """Existing image folders of the splits named in data.yaml (else every ``<root>/<split>/images``)."""
    dirs: list[Path] = []
    values = [data[k] for k in SPLIT_KEYS if data and data.get(k)]
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            folder = _resolve_split(root, item)
            if folder is None:
                log.info("%s: split folder %r does not exist; skipped", root / "data.yaml", item)
            elif folder.resolve() not in {d.resolve() for d in dirs}:
                dirs.append(folder)
    if not values:
        dirs = sorted(p for p in root.glob("*/images") if p.is_dir())
    if not dirs:
        raise AnnotationError(f"{root}: no split image folder found (data.yaml train/val/test or <split>/images)")
    return dirs


def images_with_labels(root: Path, data: dict[str, Any] | None) -> tuple[list[tuple[Path, str, Path, tuple[int, int]]], int]:
    """(image, path relative to root, label file, (width, height) px as displayed) for every readable image, and
    the number of unreadable images skipped (each warned about). The label file may not exist (null image)."""
    out, skipped = [], 0
    for folder in image_dirs(root, data):
        labels = folder.parent / "labels" if folder.name == "images" else folder
        for key, image in index_images(folder).items():
            size = probe_image(image)
            if size is None:
                skipped += 1
                continue
            rel = image.relative_to(root).as_posix() if image.is_relative_to(root) else key
            out.append((image, rel, labels / PurePosixPath(key).with_suffix(".txt"), size))
    return out, skipped


def read_label_rows(path: Path, columns: int) -> list[tuple[int, np.ndarray]]:
    """(line number, values) of each non-empty line; every line must hold exactly ``columns`` numbers."""
    if not path.is_file():
        return []
    rows = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: cannot read label file ({err})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values = np.array([float(t) for t in line.split()], dtype=np.float64)
        except ValueError:
            raise AnnotationError(f"{path}:{n}: expected numbers, got {line.strip()[:60]!r}") from None
        if values.size != columns or not np.isfinite(values).all():
            raise AnnotationError(f"{path}:{n}: expected {columns} finite numbers, got {values.size}")
        rows.append((n, values))
    return rows


def class_id(value: float, n_classes: int, where: str) -> int:
    """Checked class id of a label line."""
    if value != int(value) or not 0 <= int(value) < n_classes:
        raise AnnotationError(f"{where}: class id {value:g} out of range 0..{n_classes - 1} (data.yaml names)")
    return int(value)
