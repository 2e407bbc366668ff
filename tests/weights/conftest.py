"""Fixtures of the weights tests: a local HTTP server standing in for Google's storage."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.tfjs import write_legacy


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture()
def served(tmp_path, tmp_path_factory, monkeypatch):
    """An HTTP server on 127.0.0.1 serving <root>/mobilenet_v1_050/ legacy files of a random model; the user cache
    (where the sums of a first fetch from Google are recorded) is a fresh folder."""
    monkeypatch.setenv("POSENET_CACHE", str(tmp_path_factory.mktemp("cache")))
    root = tmp_path / "www"
    state = create_model("mobilenet_v1_050").state_dict()
    write_legacy(root / "mobilenet_v1_050", state_dict_to_tfjs(state))
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root, state
    server.shutdown()
    server.server_close()
