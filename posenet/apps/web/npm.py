"""Pinned npm packages installed once per machine: ``npm ci`` of a ``package.json`` + ``package-lock.json`` pair
into the user cache (``$POSENET_CACHE/node/<name>-<hash of the pair>/node_modules``).

The lock file fixes every package's version and integrity, so the JavaScript copied out of the cache is the
same on every machine; a changed lock file installs into a new folder. The install runs in a temporary folder
renamed into place when complete, so an interrupted ``npm ci`` leaves nothing half-installed behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from posenet.errors import BackendError, PosenetError
from posenet.io.atomic import atomic_dir
from posenet.weights.sources import cache_dir, run_npm

__all__ = ["LOCK_FILES", "npm_ci"]

log = logging.getLogger(__name__)

LOCK_FILES = ("package.json", "package-lock.json")
_DONE = "installed.json"  # written last inside the temporary folder: its presence means a complete install


def _key(project: Path) -> str:
    digest = hashlib.sha256()
    for name in LOCK_FILES:
        digest.update((project / name).read_bytes())
    return digest.hexdigest()[:16]


def npm_ci(project: str | os.PathLike, purpose: str, timeout: float = 600.0,
           error: type[PosenetError] = BackendError) -> Path:
    """The ``node_modules`` folder of ``project``'s lock file, installed into the user cache on first use.

    purpose: what the packages are for (named in the one-line ``error`` when npm is absent or fails).
    """
    project = Path(project)
    for name in LOCK_FILES:
        if not (project / name).is_file():
            raise error(f"{project / name} is missing (needed for {purpose})")
    package = json.loads((project / "package.json").read_text(encoding="utf-8")).get("name", "packages")
    target = cache_dir() / "node" / f"{package}-{_key(project)}"
    if (target / _DONE).is_file():
        return target / "node_modules"
    log.warning("installing the pinned npm packages for %s into %s (once per machine)", purpose, target)
    with atomic_dir(target) as tmp:
        for name in LOCK_FILES:
            shutil.copyfile(project / name, tmp / name)
        run_npm(["ci", "--ignore-scripts", "--no-audit", "--no-fund"], tmp, timeout, purpose, error)
        (tmp / _DONE).write_text(json.dumps({"lock": _key(project)}) + "\n", encoding="utf-8")
    return target / "node_modules"
