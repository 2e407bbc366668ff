"""Download exports with the platforms' own SDKs (dtlpy, roboflow). Thin: parsing lives in the readers.

Credentials come from the environment (``DATALOOP_API_KEY``, ``ROBOFLOW_API_KEY``); SDK and network failures
become one-line ``PosenetError`` messages. The SDKs are imported only when a fetch runs.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import requests

from posenet.errors import AnnotationError, CredentialsError
from posenet.extras import require_extra

__all__ = ["DATALOOP_KEY_ENV", "ROBOFLOW_FORMATS", "ROBOFLOW_KEY_ENV", "FetchError", "fetch_dataloop", "fetch_roboflow"]

log = logging.getLogger(__name__)

DATALOOP_KEY_ENV = "DATALOOP_API_KEY"
ROBOFLOW_KEY_ENV = "ROBOFLOW_API_KEY"
ROBOFLOW_FORMATS: dict[str, str] = {"coco": "roboflow_coco", "yolov8": "roboflow_yolov8"}  # SDK id -> reader


class FetchError(AnnotationError):
    """An export could not be downloaded from its platform."""


def _api_key(env: str, platform: str) -> str:
    key = os.environ.get(env, "").strip()
    if not key:
        raise CredentialsError(f"{platform} needs an API key: set the environment variable {env}")
    return key


def _sdk(name: str) -> ModuleType:
    return require_extra(name, f"fetching the dataset with {name}", FetchError)


@contextlib.contextmanager
def _network_errors(what: str) -> Iterator[None]:
    try:
        yield
    except requests.RequestException as err:
        raise FetchError(f"{what}: network error ({err.__class__.__name__}: {err})") from err
    except OSError as err:
        raise FetchError(f"{what}: cannot write the download ({err.strerror or err})") from err


def fetch_dataloop(project: str, dataset: str, dest: str | Path) -> Path:
    """Download images + item JSON of a Dataloop dataset into ``dest`` (``items/`` + ``json/``); returns ``dest``."""
    dest = Path(dest)
    key = _api_key(DATALOOP_KEY_ENV, "Dataloop")
    dl = _sdk("dtlpy")
    what = f"Dataloop project {project!r} dataset {dataset!r}"
    auth_errors = (dl.exceptions.Unauthorized, dl.exceptions.Forbidden, dl.exceptions.TokenExpired)
    with _network_errors(what):
        try:
            dl.login_api_key(key)
        except ValueError as err:
            raise CredentialsError(f"Dataloop rejected the key in {DATALOOP_KEY_ENV} ({err})") from err
        try:
            ds = dl.projects.get(project_name=project).datasets.get(dataset_name=dataset)
            log.info("downloading %s to %s", what, dest)
            ds.download(local_path=str(dest), annotation_options=[dl.ViewAnnotationOptions.JSON], overwrite=True)
        except dl.exceptions.NotFound as err:
            raise FetchError(f"{what}: not found ({err.message}); check data.dataloop.project / dataset") from err
        except auth_errors as err:
            raise CredentialsError(f"{what}: access denied ({err.message}); check {DATALOOP_KEY_ENV}") from err
        except dl.exceptions.ExceptionMain as err:
            raise FetchError(f"{what}: Dataloop error {err.status_code} ({err.message})") from err
    return dest


def fetch_roboflow(workspace: str, project: str, version: int, fmt: str, dest: str | Path) -> Path:
    """Download a Roboflow dataset version in ``fmt`` (``coco`` or ``yolov8``) into the new folder ``dest``."""
    if fmt not in ROBOFLOW_FORMATS:
        raise FetchError(f"Roboflow export format {fmt!r} is not supported (use {', '.join(ROBOFLOW_FORMATS)})")
    key = _api_key(ROBOFLOW_KEY_ENV, "Roboflow")
    roboflow = _sdk("roboflow")
    rf_error = importlib.import_module("roboflow.adapters.rfapi").RoboflowError
    what = f"Roboflow {workspace}/{project} version {version} ({fmt})"
    with _network_errors(what):
        try:
            rf = roboflow.Roboflow(api_key=key)
        except (RuntimeError, ValueError) as err:
            raise CredentialsError(f"Roboflow rejected the key in {ROBOFLOW_KEY_ENV} ({err})") from err
        try:
            log.info("downloading %s to %s", what, dest)
            dataset = rf.workspace(workspace).project(project).version(version).download(
                fmt, location=str(dest), overwrite=True)
        except (RuntimeError, ValueError, rf_error) as err:
            raise FetchError(f"{what}: {err}") from err
    return Path(dataset.location)
