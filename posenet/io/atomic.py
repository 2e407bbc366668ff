"""File output: atomic writes (readers never see a half-written file or folder), unique names in one folder."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posenet.errors import OutputInUseError, PosenetError

__all__ = ["LOCK_FILE", "UniqueNames", "atomic_dir", "atomic_path", "folder_lock", "write_bytes_atomic",
           "write_json_atomic", "write_npz_atomic", "write_text_atomic"]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (0o666 minus the umask); mkstemp makes 0o600."""
    return 0o666 & ~_umask()


# Write errors that carry no file name: the file being written is the one to name.
_WRITE_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def _user_paths(err: BaseException, tmp: Path, target: Path) -> None:
    """Make an error name ``target`` (the user's path) where it names the hidden temp file or folder ``tmp``
    (or a file inside it): the file names of an OSError (one without a name, for a full disk or quota, gets
    ``target``), the message of a PosenetError. Other errors are left as they are."""
    if isinstance(err, OSError):
        for attr in ("filename", "filename2"):
            name = getattr(err, attr)
            if name is not None and (os.fsdecode(name) + os.sep).startswith(str(tmp) + os.sep):
                setattr(err, attr, str(target) + os.fsdecode(name)[len(str(tmp)):])
        if err.filename is None and err.errno in _WRITE_ERRNOS:
            err.filename = str(target)
    elif isinstance(err, PosenetError) and err.args and isinstance(err.args[0], str):
        err.args = (err.args[0].replace(str(tmp), str(target)), *err.args[1:])


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path`` with ``os.replace``.

    ``suffix`` ends the temporary name (writers that pick the format from the extension need it). Errors about
    the temporary file name ``path`` instead (``_user_paths``).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as err:  # mkstemp names the random temp file it could not create: name the target
        if err.filename is not None and Path(os.fsdecode(err.filename)).name.startswith(f".{path.name}."):
            err.filename = str(path)
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _default_file_mode())
        os.replace(tmp_path, path)
    except (OSError, PosenetError) as err:
        _user_paths(err, tmp_path, path)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as UTF-8 JSON (non-ASCII kept) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to a compressed ``.npz`` atomically, byte-identical for identical arrays.

    ``np.savez_compressed`` stamps each member with the current time, so every rerun changed the file's md5
    (and DVC reran everything downstream); here every member carries the zip epoch instead.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole. Errors about the
    temporary folder or a file in it name the same file under ``path`` instead (``_user_paths``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0o700; give what mkdir would
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except (OSError, PosenetError) as err:
        _user_paths(err, tmp, path)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


LOCK_FILE = ".posenet.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while ``what`` (e.g. "posenet infer") writes to it: a ``LOCK_FILE`` in
    it, ``flock``-ed (released by the OS when the process dies, so a killed run never leaves the folder locked) and
    removed on exit. A second run on the same folder gets OutputInUseError at once instead of mixing its files with
    the first one's. POSIX only: elsewhere the folder is not locked."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            raise OutputInUseError(f"{folder}: another {what} is writing to this folder "
                                   f"({holder or 'a running process'}); wait for it or choose another output folder") \
                from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the previous holder removed the file between our open and flock: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still holding it, so no one locks the removed file
        os.close(fd)


class UniqueNames:
    """Unique file names in one folder: ``x.jpg``, then ``x_1.jpg``, ``x_2.jpg``, ... . Names are compared
    case-insensitively so they stay distinct on case-insensitive file systems (macOS, Windows)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        """``name`` itself when not used yet, else ``<stem>_<n><suffix>`` with the smallest free ``n``."""
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, n = name, 0
        while candidate.lower() in self.used:
            n += 1
            candidate = f"{stem}_{n}{suffix}"
        self.used.add(candidate.lower())
        return candidate
