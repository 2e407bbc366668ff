"""Train / val / test split of a canonical COCO dict (by image): the export's own split, a seeded split that keeps
groups of frames together, or a seeded split by image.

Rules (``data.split``):

- ``export``: the split the export itself carries (``ImageRecord.split``: Roboflow / Dataloop split folders,
  Ultralytics ``train:``/``val:``/``test:``, one COCO file per split);
- ``group``: groups of images (frames of one video or clip, Roboflow's augmented copies of one source image) are
  drawn whole into val, seeded, until val holds about ``val_fraction`` of the images; the group key comes from the
  image's path by ``data.group_pattern``;
- ``random``: ``round(val_fraction * n)`` images drawn at random (seeded), whatever their group;
- ``auto``: ``export`` when the export has a val split, else ``group``.

Whatever the rule, the export's ``test`` split is kept apart: it never enters train or val.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from posenet.errors import ParamsError
from posenet.params import DataParams

__all__ = ["LAYOUT_FOLDERS", "SPLITS", "SPLIT_WORDS", "group_key", "grouped_path", "split_coco", "split_dataset",
           "split_groups", "split_of_folder"]

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
# Folder / file-name words that name a split in exports (Roboflow writes "valid").
SPLIT_WORDS: dict[str, str] = {"train": "train", "training": "train", "val": "val", "valid": "val",
                               "validation": "val", "test": "test", "testing": "test"}
# Folders that say where a file sits in an export, not which clip it belongs to: left out of the grouped path.
LAYOUT_FOLDERS: frozenset[str] = frozenset(SPLIT_WORDS) | {"images", "labels", "items", "json"}


def split_of_folder(name: str) -> str:
    """``"train"``, ``"val"`` or ``"test"`` when a folder name is a split word (``valid``, ``Validation``, ...);
    else ``""``."""
    return SPLIT_WORDS.get(name.strip().lower(), "")


def grouped_path(rel: str) -> str:
    """The part of an image's export path that the group pattern sees: ``rel`` (posix) without its split and
    layout folders (``train/images/clip_0001.jpg`` -> ``clip_0001.jpg``, ``items/cam1/0001.jpg`` -> ``cam1/0001.jpg``),
    so a clip split over the export's folders keeps one key."""
    parts = PurePosixPath(rel).parts
    folders = [p for p in parts[:-1] if p.lower() not in LAYOUT_FOLDERS]
    return "/".join([*folders, parts[-1]]) if parts else rel


def group_key(rel: str, pattern: re.Pattern[str]) -> str:
    """Group of the image at export path ``rel``: the first capture group of ``pattern`` that took part in its match
    on ``grouped_path(rel)`` (the whole match when the pattern has no group); an image the pattern does not match
    is a group of its own (its path)."""
    path = grouped_path(rel)
    match = pattern.search(path)
    if match is None:
        return path
    return next((g for g in match.groups() if g is not None), match.group(0))


def _subset(coco: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """A deep copy of ``coco`` with the images ``keep`` accepts and their annotations (ids kept)."""
    images = [img for img in coco["images"] if keep(img)]
    ids = {img["id"] for img in images}
    out = {k: copy.deepcopy(v) for k, v in coco.items() if k not in ("images", "annotations")}
    out["images"] = copy.deepcopy(images)
    out["annotations"] = [copy.deepcopy(a) for a in coco["annotations"] if a["image_id"] in ids]
    return out


def split_coco(coco: dict[str, Any], val_fraction: float, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split by image: ``round(val_fraction * n)`` images (at least 1 when val_fraction > 0 and n >= 2) go to val.

    The permutation is drawn with ``numpy.random.default_rng(seed)`` over the images sorted by file name, so
    the result depends only on the file names, the fraction and the seed. Ids are kept.
    """
    names = sorted(img["file_name"] for img in coco["images"])
    n = len(names)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val_names = {names[i] for i in order[:n_val]}
    return (_subset(coco, lambda img: img["file_name"] not in val_names),
            _subset(coco, lambda img: img["file_name"] in val_names))


def split_groups(sizes: Mapping[str, int], val_fraction: float, seed: int) -> set[str]:
    """The groups drawn into val: groups in a seeded order (``default_rng(seed)`` over the sorted keys), each taken
    when it brings the val image count closer to ``round(val_fraction * n)`` and leaves train a group; when none
    does (every group is large), the smallest one. Empty with fewer than two groups."""
    keys = sorted(sizes)
    if len(keys) < 2 or val_fraction <= 0:
        return set()
    total = sum(sizes.values())
    target = max(int(round(val_fraction * total)), 1)
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    chosen: set[str] = set()
    count = 0
    for key in order:
        size = sizes[key]
        if abs(count + size - target) < abs(count - target) and count + size < total:
            chosen.add(key)
            count += size
    if not chosen:
        chosen.add(min(order, key=lambda k: sizes[k]))  # min keeps the first (seeded) of equal sizes
    return chosen


def _straddling(keys: Mapping[str, str], split_of: Mapping[str, str]) -> list[str]:
    """Groups with images in both train and val (by file name -> key and file name -> split)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for name, key in keys.items():
        seen[key].add(split_of[name])
    return sorted(k for k, splits in seen.items() if {"train", "val"} <= splits)


def split_dataset(coco: dict[str, Any], export_splits: Mapping[str, str], data: DataParams
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Split ``coco`` by ``data.split`` into ``{"train", "val"[, "test"]}`` subsets, and say how.

    ``export_splits``: image ``source`` (its export path) -> the export's split (``"train"``, ``"val"``,
    ``"test"``; ``""`` or absent: the export does not say). Returns the subsets (``test`` only when the export has
    one) and ``{"rule", "requested", "val_fraction", "seed", "group_pattern", "groups" {split: n},
    "straddling_groups"}`` (``straddling_groups``: groups with images in both train and val, which inflate val AP).
    ParamsError when train or val would hold no labelled person, or ``data`` names no known rule.
    """
    pattern = data.group_regex()
    exported = {img["file_name"]: export_splits.get(img["source"], "") for img in coco["images"]}
    keys = {img["file_name"]: group_key(img["source"], pattern) for img in coco["images"]}
    has_val = "val" in exported.values()
    rule = ("export" if has_val else "group") if data.split == "auto" else data.split
    if rule not in ("export", "group", "random"):
        raise ParamsError(f"data.split = {data.split!r} is not one of auto, export, random, group")
    split_of = {name: "test" for name, s in exported.items() if s == "test"}
    rest = [img for img in coco["images"] if img["file_name"] not in split_of]
    if rule == "export":
        if not has_val:
            found = sorted({s for s in exported.values() if s}) or ["none"]
            raise ParamsError(f"data.split = export: the export has no val split (splits found: {', '.join(found)}); "
                              "use data.split auto, group or random")
        unassigned = [img["file_name"] for img in rest if exported[img["file_name"]] != "val"
                      and exported[img["file_name"]] != "train"]
        if unassigned:
            log.warning("%d image(s) outside the export's split folders (e.g. %s) go to train", len(unassigned),
                        unassigned[0])
        split_of |= {img["file_name"]: "val" if exported[img["file_name"]] == "val" else "train" for img in rest}
    elif rule == "group":
        sizes: dict[str, int] = defaultdict(int)
        for img in rest:
            sizes[keys[img["file_name"]]] += 1
        val_groups = split_groups(sizes, data.val_fraction, data.seed)
        split_of |= {img["file_name"]: "val" if keys[img["file_name"]] in val_groups else "train" for img in rest}
    else:
        train, val = split_coco({"images": rest, "annotations": []}, data.val_fraction, data.seed)
        split_of |= {img["file_name"]: "train" for img in train["images"]}
        split_of |= {img["file_name"]: "val" for img in val["images"]}
    subsets = {s: _subset(coco, lambda img, s=s: split_of[img["file_name"]] == s) for s in SPLITS}
    _check_not_empty(subsets, rule, data, {s: len({keys[n] for n, t in split_of.items() if t == s}) for s in SPLITS})
    if not subsets["test"]["images"]:
        del subsets["test"]
    straddling = _straddling({n: k for n, k in keys.items() if split_of[n] != "test"}, split_of)
    if straddling:
        log.warning("%d group(s) of frames have images in both train and val (e.g. %r): neighbouring frames make "
                    "val AP optimistic (data.split group keeps groups together)", len(straddling), straddling[0])
    how = {"rule": rule, "requested": data.split, "val_fraction": data.val_fraction, "seed": data.seed,
           "group_pattern": pattern.pattern,
           "groups": {s: len({keys[img["file_name"]] for img in sub["images"]}) for s, sub in subsets.items()},
           "straddling_groups": len(straddling)}
    return subsets, how


def _check_not_empty(subsets: dict[str, dict[str, Any]], rule: str, data: DataParams, groups: dict[str, int]) -> None:
    """ParamsError in one line when train or val holds no labelled person, saying why and what to change."""
    for split in ("train", "val"):
        if subsets[split]["annotations"]:
            continue
        counts = ", ".join(f"{s} {len(subsets[s]['images'])} images / {len(subsets[s]['annotations'])} persons"
                           for s in SPLITS)
        if rule == "group":
            hint = (f"all {sum(groups.values())} group(s) by data.group_pattern: too few to split; set a "
                    "data.group_pattern that tells the clips apart, or data.split random")
        elif rule == "export":
            hint = "the export's split leaves it empty; use data.split group or random"
        else:
            hint = f"data.val_fraction = {data.val_fraction} on too few images"
        raise ParamsError(f"data.split = {data.split} ({rule}) leaves {split} without a labelled person ({counts}); "
                          f"{hint}")
