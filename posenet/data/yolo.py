"""Pieces shared by the YOLO-style readers: data.yaml, split folders and lists, label files, class ids.

Layouts read: Roboflow ``<split>/images`` + ``<split>/labels``, Ultralytics ``images/<split>`` + ``labels/<split>``
(coco8-pose, CVAT's Ultralytics export), data.yaml ``path:``, split values that are folders, image-list ``.txt``
files or lists of those; split paths that do not exist here (another machine's) fall back to the folders beside
data.yaml. The data.yaml key (or the folder name, when the folders beside it are read) is the export's split.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np

from posenet.data.files import index_images, load_yaml, nfc
from posenet.data.imagemeta import probe_image
from posenet.data.split import split_of_folder
from posenet.errors import AnnotationError
from posenet.io.media import IMAGE_EXTENSIONS

__all__ = ["SPLIT_KEYS", "YoloImage", "class_id", "class_names", "export_images", "find_data_yaml",
           "images_with_labels", "label_coverage", "label_file", "load_data_yaml", "read_label_rows"]

log = logging.getLogger(__name__)

SPLIT_KEYS: tuple[str, ...] = ("train", "val", "test")


def find_data_yaml(path: Path, required: bool = True) -> Path | None:
    """The dataset YAML of an export: ``path`` itself when it is a YAML file, else ``<path>/data.yaml``, else the
    only ``*.yaml`` / ``*.yml`` in ``path`` (Ultralytics names it after the dataset: ``coco8-pose.yaml``)."""
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return path
    candidates: list[Path] = []
    if (path / "data.yaml").is_file():
        candidates = [path / "data.yaml"]
    elif path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
    if len(candidates) == 1:
        return candidates[0]
    if required:
        raise AnnotationError(f"{path}: no data.yaml (expected a YOLO export folder with data.yaml, or its YAML file)")
    return None


def load_data_yaml(path: Path, required: bool = True) -> tuple[Path, Path | None, dict[str, Any] | None]:
    """(export root, YAML file, its mapping) of an export folder or YAML file; ``None``s when there is no YAML
    and it is not ``required``. The root is the YAML's folder (split paths fall back to folders there)."""
    yaml_path = find_data_yaml(path, required)
    if yaml_path is None:
        return path, None, None
    return yaml_path.parent, yaml_path, load_yaml(yaml_path)


def class_names(data: dict[str, Any], yaml_path: Path) -> list[str]:
    """``names`` of data.yaml (list, or {id: name}) checked against ``nc``."""
    names = data.get("names")
    if isinstance(names, dict):
        try:
            names = [names[i] for i in range(len(names))]
        except KeyError:
            raise AnnotationError(f"{yaml_path}: names must map ids 0..n-1 to names") from None
    if not isinstance(names, list) or not names:
        raise AnnotationError(f"{yaml_path}: field 'names' must be a non-empty list of class names")
    if "nc" in data and data["nc"] != len(names):
        raise AnnotationError(f"{yaml_path}: nc = {data['nc']!r} but names lists {len(names)} classes")
    return [str(n) for n in names]


def _locate(base: Path, value: str) -> Path | None:
    """An existing file or folder named by a data.yaml path, or None. Relative paths are tried below ``base``
    without their ``..`` (Roboflow writes ``../train/images`` for ``<root>/train/images``), then as written as long as
    they stay inside ``base`` (a folder beside the export must not be read by accident)."""
    raw = PurePosixPath(str(value).strip().replace("\\", "/"))
    if raw.is_absolute():
        return Path(raw) if Path(raw).exists() else None
    stripped = PurePosixPath(*[p for p in raw.parts if p not in ("..", ".")]) if raw.parts else raw
    literal = Path(os.path.normpath(base / raw))
    for candidate in (base / stripped, literal if literal.is_relative_to(os.path.normpath(base)) else None):
        if candidate is not None and candidate.exists():
            return candidate
    return None


def _listed_images(txt: Path) -> tuple[list[Path], int]:
    """Images named in an Ultralytics split file (one path a line; relative ones below the file's folder) and the
    number of listed images that do not exist here."""
    try:
        lines = [ln.strip() for ln in txt.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{txt}: cannot read split file ({err})") from err
    found = [p for p in (_locate(txt.parent, ln) for ln in lines) if p is not None and p.is_file()]
    return found, len(lines) - len(found)


def _split_images(base: Path, value: Any, yaml_path: Path) -> tuple[list[Path], int]:
    """Images of one split value of data.yaml (a folder, an image list file, an image, or a list of those) and the
    number of listed images missing here. No image at all: the split does not exist here."""
    images: list[Path] = []
    missing = 0
    for item in value if isinstance(value, list) else [value]:
        target = _locate(base, str(item))
        if target is None:
            log.info("%s: split path %r does not exist here; skipped", yaml_path, item)
        elif target.is_dir():
            images += index_images(target).values()
        elif target.suffix.lower() == ".txt":
            listed, lost = _listed_images(target)
            if lost:
                log.warning("%s: %d of %d listed images do not exist here; skipped", target, lost, lost + len(listed))
            images += listed
            missing += lost if listed else 0
        elif target.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(target)
    return images, missing


def _beside_yaml(root: Path) -> dict[Path, str]:
    """Images of the folders beside data.yaml (Ultralytics ``images/<split>``, Roboflow ``<split>/images``), each
    with the split its folder names (``""``: none)."""
    folders = [root / "images"] if (root / "images").is_dir() else []
    folders += sorted(p for p in root.glob("*/images") if p.is_dir())
    found: dict[Path, str] = {}
    for folder in folders:
        for image in index_images(folder).values():
            words = [split_of_folder(part) for part in image.relative_to(root).parts[:-1]]
            found.setdefault(image, next((w for w in words if w), ""))
    return found


def export_images(root: Path, yaml_path: Path | None,
                  data: dict[str, Any] | None) -> tuple[dict[Path, str], Path, int]:
    """(every image of the splits data.yaml names -> its split key ``train``/``val``/``test``, the dataset folder
    ``path:`` names (else ``root``), the number of listed images missing here). Splits that do not exist here are
    skipped; when none does (paths from another machine) or data.yaml names none, the folders beside it are read
    (split from their names). An image listed under two keys keeps the first (train, val, test)."""
    base = root
    if data and data.get("path"):
        named = Path(str(data["path"]))
        named = named if named.is_absolute() else root / named
        if named.is_dir():
            base = Path(os.path.normpath(named))
        else:
            log.info("%s: path %r does not exist here; reading split paths relative to %s",
                     yaml_path, data["path"], root)
    keys = [k for k in SPLIT_KEYS if data and data.get(k)]
    images: dict[Path, str] = {}
    missing = 0
    for key in keys:
        split_images, lost = _split_images(base, data[key], yaml_path or root)
        for image in split_images:
            images.setdefault(Path(os.path.normpath(image.absolute())), key)  # val may repeat test
        missing += lost
    if not images:
        images = {Path(os.path.normpath(p.absolute())): split for p, split in _beside_yaml(root).items()}
        missing = 0
        if keys and images:
            log.warning("%s: none of the split paths %s exists here; reading the folders beside it", yaml_path,
                        [data[k] for k in keys])
    if not images:
        raise AnnotationError(f"{root}: no image found (data.yaml train/val/test, <split>/images or images/<split>)")
    return images, base, missing


def label_file(image: Path, base: Path) -> Path:
    """Label file of an image, by Ultralytics' rule: the last ``images`` folder of its path (below ``base``) becomes
    ``labels`` and the suffix ``.txt`` (``images/train/a.jpg`` and ``train/images/a.jpg`` alike); without an
    ``images`` folder the label lies beside the image."""
    parts = list(image.parts)
    first = len(base.parts) if image.is_relative_to(base) else 0
    where = [i for i in range(first, len(parts) - 1) if parts[i] == "images"]
    if where:
        parts[where[-1]] = "labels"
    return Path(*parts).with_suffix(".txt")


class YoloImage(NamedTuple):
    """One image of a YOLO export: file, path relative to the export, label file (may not exist: a null image),
    (width, height) px as displayed, the export's split (``""``: none)."""

    image: Path
    rel: str
    label: Path
    size: tuple[int, int]
    split: str


def images_with_labels(root: Path, yaml_path: Path | None, data: dict[str, Any] | None) -> tuple[list[YoloImage], int]:
    """Every readable image of the export, and the number of images skipped (unreadable, or listed but missing; each
    warned about)."""
    root = root.absolute()  # not resolve(): exports may hold symlinked images, their labels lie by the link
    images, base, skipped = export_images(root, yaml_path, data)
    out = []
    for image, split in images.items():
        size = probe_image(image)
        if size is None:
            skipped += 1
            continue
        rel = nfc(image.relative_to(root).as_posix() if image.is_relative_to(root) else image.as_posix())
        out.append(YoloImage(image, rel, label_file(image, base), size, split))
    return out, skipped


def label_coverage(images: list[YoloImage], lines: int) -> str:
    """What a YOLO reader found, for the error when no person is left: label files per image and label lines."""
    missing = [item.label for item in images if not item.label.is_file()]
    example = f", e.g. no {missing[0]}" if missing else ""
    return f"{len(images) - len(missing)} of {len(images)} label files found{example}; {lines} label line(s)"


def read_label_rows(path: Path, columns: int) -> list[tuple[int, np.ndarray]]:
    """(line number, values) of each non-empty line; every line must hold exactly ``columns`` numbers."""
    if not path.is_file():
        return []
    rows = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: cannot read label file ({err})") from err
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
