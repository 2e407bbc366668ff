"""PersonLab codec: target layout, disks, ownership, masks, and the encode -> decode round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posenet.codec.personlab import PersonLabCodec, Targets, collate_targets, output_grid_size
from posenet.constants import CHILD_IDS, NUM_EDGES, NUM_KEYPOINTS, PARENT_IDS, POSE_CHAIN

DATA = Path(__file__).parents[1] / "data"
COCO_MINI = DATA / "coco_mini_keypoints.json"


def person(points: dict[int, tuple[float, float]], v: int = 2) -> np.ndarray:
    """One person [17, 3] with the given parts labelled at (x, y)."""
    kp = np.zeros((NUM_KEYPOINTS, 3))
    for k, (x, y) in points.items():
        kp[k] = (x, y, v)
    return kp


def test_shapes_and_dtypes():
    t = PersonLabCodec((257, 193), 16, 32.0).encode(person({0: (100.0, 60.0)})[None])
    h, w = 17, 13
    assert output_grid_size((257, 193), 16) == (h, w)
    expected = {"heatmaps": 17, "offsets": 34, "offset_mask": 17, "displacements_fwd": 32,
                "displacements_bwd": 32, "fwd_mask": 16, "bwd_mask": 16}
    for name, channels in expected.items():
        arr = getattr(t, name)
        assert arr.shape == (channels, h, w), name
        assert arr.dtype == np.float32, name


def test_disk_and_offsets_single_keypoint():
    x, y, stride, radius = 37.0, 50.0, 8, 20.0
    t = PersonLabCodec((129, 129), stride, radius).encode(person({3: (x, y)})[None])
    ii, jj = np.mgrid[0:17, 0:17] * stride
    disk = ((ii - y) ** 2 + (jj - x) ** 2 <= radius**2).astype(np.float32)
    np.testing.assert_array_equal(t.heatmaps[3], disk)
    assert t.heatmaps.sum() == disk.sum() > 0  # no other part lit
    np.testing.assert_array_equal(t.offset_mask, t.heatmaps)
    # y block first (channel k), x block second (channel 17 + k), zero outside the disk
    np.testing.assert_allclose(t.offsets[3], (y - ii) * disk)
    np.testing.assert_allclose(t.offsets[17 + 3], (x - jj) * disk)
    assert not t.offsets[np.arange(34) % 17 != 3].any()
    # a single keypoint has no edge with both ends labelled
    assert not t.fwd_mask.any() and not t.bwd_mask.any()
    assert not t.displacements_fwd.any() and not t.displacements_bwd.any()


def test_cell_at_stride_times_index_no_half_cell_shift():
    # keypoint exactly on cell (2, 3) at stride 16 -> zero offset there, cell + offset == keypoint everywhere
    t = PersonLabCodec((129, 129), 16, 20.0).encode(person({0: (48.0, 32.0)})[None])
    assert t.heatmaps[0, 2, 3] == 1 and t.offsets[0, 2, 3] == 0 and t.offsets[17, 2, 3] == 0
    ii, jj = np.nonzero(t.heatmaps[0])
    np.testing.assert_allclose(16 * ii + t.offsets[0, ii, jj], 32.0)
    np.testing.assert_allclose(16 * jj + t.offsets[17, ii, jj], 48.0)


@pytest.mark.parametrize("keypoints", [np.zeros((0, 17, 3)), person({})[None], person({0: (10, 10)}, v=0)[None]])
def test_no_labelled_person_gives_all_zero(keypoints):
    t = PersonLabCodec((257, 257), 16, 32.0).encode(keypoints)
    for name, arr in t._asdict().items():
        assert arr.shape[1:] == (17, 17), name
        assert not arr.any(), name


def test_v1_counts_as_labelled_and_nonfinite_is_ignored():
    t1 = PersonLabCodec((129, 129), 16, 32.0).encode(person({5: (60, 60)}, v=1)[None])
    t2 = PersonLabCodec((129, 129), 16, 32.0).encode(person({5: (60, 60)}, v=2)[None])
    for a, b in zip(t1, t2):
        np.testing.assert_array_equal(a, b)
    bad = person({5: (60, 60)})
    bad[6] = (np.nan, 10, 2)
    t3 = PersonLabCodec((129, 129), 16, 32.0).encode(bad[None])
    for a, b in zip(t3, t2):
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(a).all()


def test_displacements_both_directions_and_masks():
    stride, radius = 16, 24.0
    nose, eye = (64.0, 40.0), (80.0, 30.0)  # edge 0 = nose -> leftEye
    t = PersonLabCodec((129, 129), stride, radius).encode(person({0: nose, 1: eye})[None])
    ii, jj = np.mgrid[0:9, 0:9] * stride
    nose_disk = t.heatmaps[0].astype(bool)
    eye_disk = t.heatmaps[1].astype(bool)
    np.testing.assert_array_equal(t.fwd_mask[0], nose_disk)
    np.testing.assert_array_equal(t.bwd_mask[0], eye_disk)
    assert t.fwd_mask[1:].sum() == 0 and t.bwd_mask[1:].sum() == 0
    # fwd: from the parent's (nose) disk to the child (eye); bwd: from the eye's disk to the nose
    np.testing.assert_allclose(t.displacements_fwd[0], (eye[1] - ii) * nose_disk)
    np.testing.assert_allclose(t.displacements_fwd[16], (eye[0] - jj) * nose_disk)
    np.testing.assert_allclose(t.displacements_bwd[0], (nose[1] - ii) * eye_disk)
    np.testing.assert_allclose(t.displacements_bwd[16], (nose[0] - jj) * eye_disk)


def test_nearest_person_owns_overlapping_pixels():
    a, b = person({0: (40.0, 64.0), 1: (40.0, 40.0)}), person({0: (80.0, 64.0)})
    t = PersonLabCodec((129, 129), 8, 32.0).encode(np.stack([a, b]))
    ii, jj = np.mgrid[0:17, 0:17] * 8
    da = (ii - 64) ** 2 + (jj - 40) ** 2
    db = (ii - 64) ** 2 + (jj - 80) ** 2
    a_owns = (da <= db) & (da <= 32**2)
    b_owns = (db < da) & (db <= 32**2)
    np.testing.assert_allclose(t.offsets[17][a_owns], (40 - jj)[a_owns])
    np.testing.assert_allclose(t.offsets[17][b_owns], (80 - jj)[b_owns])
    # fwd edge 0 (nose -> leftEye) only where person a (who has an eye) owns the nose pixel
    np.testing.assert_array_equal(t.fwd_mask[0].astype(bool), a_owns)


def test_permuting_persons_does_not_change_targets():
    rng = np.random.default_rng(1)
    kps = np.concatenate([rng.uniform(0, 256, (4, 17, 2)), rng.integers(0, 3, (4, 17, 1))], axis=-1)
    t1 = PersonLabCodec((257, 257), 16, 32.0).encode(kps)
    t2 = PersonLabCodec((257, 257), 16, 32.0).encode(kps[::-1])
    for a, b in zip(t1, t2):  # ties at exactly equal distances are measure-zero for random floats
        np.testing.assert_allclose(a, b)


def test_collate_targets():
    codec = PersonLabCodec((129, 97), 16, 32.0)
    ts = [codec.encode(person({0: (10, 10)})[None]), codec.encode(np.zeros((0, 17, 3)))]
    batch = collate_targets(ts)
    assert set(batch) == set(Targets._fields)
    assert batch["offsets"].shape == (2, 34, 9, 7) and batch["offsets"].dtype == torch.float32
    assert batch["heatmaps"][0].sum() > 0 and batch["heatmaps"][1].sum() == 0


# ---------------------------------------------------------------- round trip through the decoder

def random_people(rng: np.random.Generator, size: int, radius: float, n: int, p_labelled: float) -> np.ndarray:
    """``n`` random skeletons in separate tiles of the canvas, so no two people's disks of one part touch."""
    tiles = int(np.ceil(np.sqrt(n)))
    tile = size / tiles
    people = []
    for t in rng.permutation(tiles * tiles)[:n]:
        y0, x0 = (t // tiles) * tile, (t % tiles) * tile
        margin = radius + 1
        xy = rng.uniform([x0 + margin, y0 + margin], [x0 + tile - margin, y0 + tile - margin], (NUM_KEYPOINTS, 2))
        v = np.where(rng.random(NUM_KEYPOINTS) < p_labelled, 2.0, 0.0)
        people.append(np.concatenate([xy, v[:, None]], axis=1))
    return np.stack(people)


def components(labelled: np.ndarray) -> list[list[int]]:
    """Connected groups of labelled parts along pose-chain edges with both ends labelled."""
    parent = list(range(NUM_KEYPOINTS))

    def find(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    for p, c in POSE_CHAIN:
        if labelled[p] and labelled[c]:
            parent[find(c)] = find(p)
    groups: dict[int, list[int]] = {}
    for k in np.flatnonzero(labelled):
        groups.setdefault(find(int(k)), []).append(int(k))
    return list(groups.values())


def round_trip(kps: np.ndarray, size: int, stride: int, radius: float) -> dict[str, float]:
    """Encode, then decode the targets with the codec; count recovered and correctly grouped keypoints.

    * recovered: a labelled keypoint that some decoded pose has within 1 px (same part);
    * grouped: for each group of a person's keypoints joined by labelled edges (the decoder can only walk
      labelled edges), the keypoints that the single best-matching pose has within 1 px;
    * impure: confident (score >= 0.5) decoded keypoints of a pose lying on a different person than the
      pose's majority.
    """
    codec = PersonLabCodec((size, size), stride, radius)
    t = codec.encode(kps)
    poses = codec.decode(
        t.heatmaps.transpose(1, 2, 0), t.offsets.transpose(1, 2, 0),
        t.displacements_fwd.transpose(1, 2, 0), t.displacements_bwd.transpose(1, 2, 0),
        max_detections=10 * len(kps) + 10, score_threshold=0.5, nms_radius=20.0)
    pos = np.stack([p.keypoints for p in poses]) if poses else np.zeros((0, 17, 2))  # [D, 17, 2] (x, y)
    scores = np.stack([p.keypoint_scores for p in poses]) if poses else np.zeros((0, 17))
    labelled = kps[..., 2] > 0
    # hit[d, p, k]: pose d has part k of person p within 1 px
    hit = np.linalg.norm(pos[:, None] - kps[None, :, :, :2], axis=-1) <= 1.0
    hit &= labelled[None]
    total = int(labelled.sum())
    recovered = int(hit.any(axis=0).sum())
    grouped = 0
    for p in range(len(kps)):
        for group in components(labelled[p]):
            grouped += int(hit[:, p, group].sum(axis=1).max(initial=0))
    impure = confident = 0
    for d in range(len(poses)):
        conf = scores[d] >= 0.5
        owners = hit[d].argmax(axis=0)[conf & hit[d].any(axis=0)]
        confident += int(conf.sum())
        impure += int(conf.sum()) - (int(np.bincount(owners).max()) if owners.size else 0)
    return {"total": total, "recovered": recovered, "grouped": grouped, "impure": impure, "confident": confident}


@pytest.mark.parametrize("stride,size", [(16, 257), (16, 513), (8, 257)])
def test_round_trip_random_poses(stride, size):
    rng = np.random.default_rng(stride + size)
    sums = {"total": 0, "recovered": 0, "grouped": 0, "impure": 0, "confident": 0}
    for trial in range(8):
        kps = random_people(rng, size, 32.0, n=int(rng.integers(1, 5)), p_labelled=1.0 if trial % 2 else 0.8)
        for key, value in round_trip(kps, size, stride, 32.0).items():
            sums[key] += value
    assert sums["recovered"] == sums["total"] > 0
    assert sums["grouped"] >= 0.99 * sums["total"]
    assert sums["impure"] <= 0.01 * sums["confident"]


def letterbox_keypoints(kps: np.ndarray, hw: tuple[int, int], size: int) -> np.ndarray:
    """Test-only stand-in: scale the longer side to the square input (the round trip does not need pixels)."""
    scale = (size - 1) / max(hw)
    out = kps.copy()
    out[..., :2] *= scale
    return out


def coco_people(path: Path, size: int) -> list[np.ndarray]:
    data = json.loads(path.read_text())
    out = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]
                and a["num_keypoints"] > 0]
        if anns:
            kps = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, 17, 3)
            out.append(letterbox_keypoints(kps, (image["height"], image["width"]), size))
    return out


def disks_overlap(kps: np.ndarray, radius: float) -> bool:
    """True when the disks of one part of two different people touch."""
    lab = kps[..., 2] > 0
    d = np.linalg.norm(kps[:, None, :, :2] - kps[None, :, :, :2], axis=-1)  # [P, P, 17]
    close = (d <= 2 * radius) & lab[:, None] & lab[None, :]
    close[np.arange(len(kps)), np.arange(len(kps))] = False
    return bool(close.any())


@pytest.mark.parametrize("source", ["tests/data", "shared"])
def test_round_trip_real_annotations(source):
    path = COCO_MINI
    if source == "shared":
        path = Path(__file__).parents[3] / "shared" / "eval" / "coco_mini" / "annotations.json"
        if not path.exists():
            pytest.skip(f"{path} not present")
    size, stride, radius = 513, 16, 32.0
    images = [k for k in coco_people(path, size) if not disks_overlap(k, radius)]
    assert len(images) >= 10
    sums = {"total": 0, "recovered": 0, "grouped": 0, "impure": 0, "confident": 0}
    for kps in images:
        for key, value in round_trip(kps, size, stride, radius).items():
            sums[key] += value
    assert sums["recovered"] == sums["total"] > 100
    assert sums["grouped"] >= 0.99 * sums["total"]
    assert sums["impure"] <= 0.01 * sums["confident"]


def test_targets_are_consistent_with_decoding_formula():
    """Without the decoder: cell + offset is the keypoint, cell + displacement the other end, on every masked cell."""
    rng = np.random.default_rng(3)
    kps = random_people(rng, 257, 32.0, n=4, p_labelled=0.8)
    t = PersonLabCodec((257, 257), 16, 32.0).encode(kps)
    ii, jj = np.mgrid[0:17, 0:17] * 16
    for k in range(NUM_KEYPOINTS):
        m = t.offset_mask[k].astype(bool)
        got = np.stack([jj[m] + t.offsets[17 + k][m], ii[m] + t.offsets[k][m]], axis=1)
        d = np.linalg.norm(got[:, None] - kps[None, :, k, :2], axis=-1).min(axis=1)
        assert (d < 1e-3).all()
    for e in range(NUM_EDGES):
        m = t.fwd_mask[e].astype(bool)
        got = np.stack([jj[m] + t.displacements_fwd[16 + e][m], ii[m] + t.displacements_fwd[e][m]], axis=1)
        d = np.linalg.norm(got[:, None] - kps[None, :, CHILD_IDS[e], :2], axis=-1).min(axis=1)
        assert (d < 1e-3).all()
        m = t.bwd_mask[e].astype(bool)
        got = np.stack([jj[m] + t.displacements_bwd[16 + e][m], ii[m] + t.displacements_bwd[e][m]], axis=1)
        d = np.linalg.norm(got[:, None] - kps[None, :, PARENT_IDS[e], :2], axis=-1).min(axis=1)
        assert (d < 1e-3).all()
