"""``posenet export --format web``: a folder that runs PoseNet in the browser, offline, from any static server.

    index.html  page.js  config.json  sample.png     the page, its settings, the photo it opens with
    model/      model.json + weight shards             the TF.js graph model (posenet.weights.tfjs_export)
    vendor/     tf-core, tf-converter, tf-backend-cpu, tf-backend-webgl, posenet (.min.js) + VERSIONS.json

The scripts are the minified bundles of the npm packages pinned by this folder's ``package-lock.json``
(TF.js 3.21.0, ``@tensorflow-models/posenet`` 2.2.2), installed once per machine with ``npm ci`` into the user
cache (:mod:`posenet.apps.web.npm`), so the page loads nothing from a CDN. The sample photo (``sample.jpg``,
tensorflow/tfjs-models ``posenet/demos/images/multi_skiing.jpg``, Apache-2.0 repository) is written as PNG: the
browser and OpenCV decode a PNG to the same pixels.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from posenet.apps.web.npm import npm_ci
from posenet.errors import BackendError
from posenet.io.media import read_image, write_image
from posenet.weights.tfjs_export import write_graph_model

__all__ = ["SAMPLE", "VENDOR", "build_page", "install_packages"]

WEB_DIR = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "page.js")
SAMPLE = "sample.png"
# vendor/<file> <- node_modules/<package>/dist/<file>, in the order index.html loads them
VENDOR: dict[str, str] = {
    "tf-core.min.js": "@tensorflow/tfjs-core",
    "tf-converter.min.js": "@tensorflow/tfjs-converter",
    "tf-backend-cpu.min.js": "@tensorflow/tfjs-backend-cpu",
    "tf-backend-webgl.min.js": "@tensorflow/tfjs-backend-webgl",
    "posenet.min.js": "@tensorflow-models/posenet",
}


def install_packages(timeout: float = 600.0) -> Path:
    """``node_modules`` with the page's pinned TF.js packages (npm ci into the user cache on first use);
    BackendError, one line, when npm is absent or fails."""
    return npm_ci(WEB_DIR, "the TF.js scripts of posenet export --format web", timeout)


def build_page(folder: str | os.PathLike, state: dict[str, torch.Tensor], meta: dict[str, Any], quantize: str,
               node_modules: str | os.PathLike, decode: dict[str, float], draw: dict[str, float]) -> None:
    """Write the page into ``folder`` (the caller makes it atomic, e.g. ``posenet.io.atomic.atomic_dir``).

    meta: the TF.js description of the model (``posenet.weights.tfjs_export.describe_tfjs``; its ``load`` is what
    the page passes to ``posenet.load``). decode: ``maxDetections``, ``scoreThreshold``, ``nmsRadius`` of
    ``estimateMultiplePoses``. draw: ``minPoseScore``, ``minPartScore`` of the skeletons drawn.
    """
    folder = Path(folder)
    node_modules = Path(node_modules)
    versions = {}
    (folder / "vendor").mkdir(parents=True, exist_ok=True)
    for name, package in VENDOR.items():
        source = node_modules / package / "dist" / name
        if not source.is_file():
            raise BackendError(f"{source} is missing: the npm install in the cache is incomplete (delete "
                               f"{node_modules.parent} and export again)")
        shutil.copyfile(source, folder / "vendor" / name)
        info = json.loads((node_modules / package / "package.json").read_text(encoding="utf-8"))
        versions[package] = {"version": info["version"], "license": info.get("license"), "file": name}
    (folder / "vendor" / "VERSIONS.json").write_text(json.dumps(versions, indent=1) + "\n", encoding="utf-8")
    write_graph_model(folder / "model", state, meta["variant"], meta["output_stride"], quantize, meta)
    for name in PAGE_FILES:
        shutil.copyfile(WEB_DIR / name, folder / name)
    write_image(folder / SAMPLE, read_image(WEB_DIR / "sample.jpg"))
    config = {"model": meta["variant"], "quantize": quantize, "load": meta["load"], "decode": decode, "draw": draw,
              "sample": SAMPLE}
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
