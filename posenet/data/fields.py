"""Typed fields of annotation records: each check names the file, the record and the field of a bad value.

``where`` is the record's place, e.g. ``"x.json: annotations[3]"``; messages read
``x.json: annotations[3].image_id = [1, 2] is not an id (an integer or a string)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from posenet.errors import AnnotationError

__all__ = ["check_id", "check_numbers", "check_record"]


def check_record(value: Any, where: str) -> dict[str, Any]:
    """A record must be a JSON object."""
    if not isinstance(value, dict):
        raise AnnotationError(f"{where} is not an object (got {type(value).__name__})")
    return value


def check_id(record: dict[str, Any], key: str, where: str, integer: bool = False) -> int | str:
    """``record[key]`` as an id: an integer, or (unless ``integer``) a string; lists, floats, booleans, null and
    missing values are refused (they cannot index images and categories)."""
    value = record.get(key)
    kinds = (int,) if integer else (int, str)
    if isinstance(value, bool) or not isinstance(value, kinds):
        what = "an integer id" if integer else "an id (an integer or a string)"
        shown = "missing" if key not in record else f"= {value!r}"
        raise AnnotationError(f"{where}.{key} {shown} is not {what}")
    return value


def check_numbers(record: dict[str, Any], key: str, count: int, where: str, what: str = "") -> np.ndarray:
    """``record[key]`` as float64 ``[count]``: a list of exactly ``count`` finite numbers. The message names the
    first value that is not a finite number (NaN, infinity, a string, null), or the length found."""
    values = record.get(key)
    if not isinstance(values, list) or len(values) != count:
        found = f"{len(values)} values" if isinstance(values, list) else "missing" if key not in record \
            else type(values).__name__
        raise AnnotationError(f"{where}.{key}: expected {count} numbers{what}, got {found}")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AnnotationError(f"{where}.{key}[{i}] = {value!r} is not a finite number")
    return np.asarray(values, dtype=np.float64)
