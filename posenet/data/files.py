"""Reading export files: JSON / YAML with errors naming the file, Unicode-safe file lookup."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from posenet.errors import AnnotationError
from posenet.io.media import IMAGE_EXTENSIONS

__all__ = ["index_images", "load_json", "load_yaml", "nfc"]


def nfc(text: str) -> str:
    """Unicode NFC form: macOS writes NFD names, exports and JSON usually NFC."""
    return unicodedata.normalize("NFC", text)


def load_json(path: str | os.PathLike) -> Any:
    """Parse a UTF-8 JSON file (BOM tolerated): every annotation JSON (exports, canonical splits, COCO files) is
    read here. ``AnnotationError`` naming the file when it is missing, unreadable, not UTF-8 or malformed (with
    line and column)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such file") from None
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: malformed JSON at line {err.lineno} column {err.colno} ({err.msg})") from err
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text") from err
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a YAML mapping (e.g. data.yaml); ``AnnotationError`` naming the file when malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise AnnotationError(f"{path}: malformed YAML{where}") from err
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
    return data


def index_images(folder: Path) -> dict[str, Path]:
    """{NFC posix path relative to ``folder``: file} of every image below ``folder``."""
    if not folder.is_dir():
        return {}
    return {nfc(p.relative_to(folder).as_posix()): p for p in sorted(folder.rglob("*"))
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}
