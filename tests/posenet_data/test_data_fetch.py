"""Fetchers: credential checks and SDK / network error mapping, offline (SDK entry points monkeypatched)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import requests
from data_helpers import FIXTURES

from posenet.data import fetch
from posenet.data.readers import read_export
from posenet.errors import CredentialsError, PosenetError


@pytest.fixture(scope="module")
def dl():
    return pytest.importorskip("dtlpy")  # slow import (several seconds): once per module


@pytest.fixture(scope="module")
def rf():
    return pytest.importorskip("roboflow")


def test_missing_keys_name_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("DATALOOP_API_KEY", raising=False)
    monkeypatch.setenv("ROBOFLOW_API_KEY", "  ")
    with pytest.raises(CredentialsError, match="set the environment variable DATALOOP_API_KEY"):
        fetch.fetch_dataloop("p", "d", tmp_path)
    with pytest.raises(CredentialsError, match="set the environment variable ROBOFLOW_API_KEY"):
        fetch.fetch_roboflow("w", "p", 1, "coco", tmp_path / "rf")


def test_unsupported_roboflow_format(tmp_path):
    with pytest.raises(PosenetError, match="'voc' is not supported"):
        fetch.fetch_roboflow("w", "p", 1, "voc", tmp_path)


# --- dtlpy ---------------------------------------------------------------------------------------------

def _fake_dataloop(dl, monkeypatch, get=None, download=None, login=None):
    monkeypatch.setenv("DATALOOP_API_KEY", "key")
    monkeypatch.setattr(dl, "login_api_key", login or (lambda key: None))
    dataset = SimpleNamespace(download=download or (lambda **kw: None))
    project = SimpleNamespace(datasets=SimpleNamespace(get=lambda dataset_name: dataset))
    monkeypatch.setattr(dl, "projects", SimpleNamespace(get=get or (lambda project_name: project)))


def test_dataloop_download_then_parse(dl, monkeypatch, tmp_path):
    seen = {}

    def download(local_path, annotation_options, overwrite):
        seen["options"] = annotation_options
        shutil.copytree(FIXTURES / "dataloop", local_path)

    _fake_dataloop(dl, monkeypatch, download=download)
    root = fetch.fetch_dataloop("proj", "ds", tmp_path / "dl")
    assert seen["options"] == [dl.ViewAnnotationOptions.JSON]
    assert len(read_export("dataloop", root).images) == 4


def test_dataloop_rejected_key(dl, monkeypatch, tmp_path):
    def login(key):
        raise ValueError("Invalid API key provided. Error: 401")

    _fake_dataloop(dl, monkeypatch, login=login)
    with pytest.raises(CredentialsError, match="Dataloop rejected the key in DATALOOP_API_KEY"):
        fetch.fetch_dataloop("p", "d", tmp_path)


@pytest.mark.parametrize("error, kind, message", [
    ("NotFound", fetch.FetchError, "not found .*Project not found.*data.dataloop.project"),
    ("Forbidden", CredentialsError, "access denied .*DATALOOP_API_KEY"),
    ("InternalServerError", fetch.FetchError, "Dataloop error 500"),
])
def test_dataloop_platform_errors(dl, monkeypatch, tmp_path, error, kind, message):
    codes = {"NotFound": "404", "Forbidden": "403", "InternalServerError": "500"}

    def get(project_name):
        raise getattr(dl.exceptions, error)(status_code=codes[error], message="Project not found")

    _fake_dataloop(dl, monkeypatch, get=get)
    with pytest.raises(kind, match=message):
        fetch.fetch_dataloop("p", "d", tmp_path)


def test_dataloop_network_error(dl, monkeypatch, tmp_path):
    def login(key):
        raise requests.ConnectionError("Max retries exceeded with url: /users/me")

    _fake_dataloop(dl, monkeypatch, login=login)
    with pytest.raises(fetch.FetchError, match="network error \\(ConnectionError: Max retries"):
        fetch.fetch_dataloop("p", "d", tmp_path)


# --- roboflow ------------------------------------------------------------------------------------------

def _fake_roboflow(rf, monkeypatch, init_error=None, download=None):
    monkeypatch.setenv("ROBOFLOW_API_KEY", "KEY")

    class FakeRoboflow:
        def __init__(self, api_key):
            assert api_key == "KEY"
            if init_error:
                raise init_error

        def workspace(self, name):
            version = SimpleNamespace(download=download)
            return SimpleNamespace(project=lambda p: SimpleNamespace(version=lambda v: version))

    monkeypatch.setattr(rf, "Roboflow", FakeRoboflow)


def test_roboflow_download_then_parse(rf, monkeypatch, tmp_path):
    def download(fmt, location, overwrite):
        assert fmt == "coco" and overwrite
        shutil.copytree(FIXTURES / "roboflow_coco", location)
        return SimpleNamespace(location=location)

    _fake_roboflow(rf, monkeypatch, download=download)
    root = fetch.fetch_roboflow("w", "p", 3, "coco", tmp_path / "rf")
    assert len(read_export("roboflow_coco", root).images) == 3


def test_roboflow_rejected_key(rf, monkeypatch, tmp_path):
    _fake_roboflow(rf, monkeypatch, init_error=RuntimeError('{"error": "This API key does not exist"}'))
    with pytest.raises(CredentialsError, match="Roboflow rejected the key in ROBOFLOW_API_KEY .*does not exist"):
        fetch.fetch_roboflow("w", "p", 1, "coco", tmp_path / "rf")


@pytest.mark.parametrize("make_error, message", [
    (lambda: RuntimeError("Version number 9 is not found."), "version 9 \\(yolov8\\): Version number 9 is not found"),
    (lambda: __import__("roboflow.adapters.rfapi", fromlist=["x"]).RoboflowError("export failed"), "export failed"),
    (lambda: requests.HTTPError("502 Server Error"), "network error \\(HTTPError: 502"),
])
def test_roboflow_errors(rf, monkeypatch, tmp_path, make_error, message):
    def download(fmt, location, overwrite):
        raise make_error()

    _fake_roboflow(rf, monkeypatch, download=download)
    with pytest.raises(fetch.FetchError, match=message):
        fetch.fetch_roboflow("w", "p", 9, "yolov8", tmp_path / "rf")
