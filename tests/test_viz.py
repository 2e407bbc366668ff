"""posenet.viz: skeleton drawing, heatmap geometry (letterbox undone), report figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenet import viz
from posenet.constants import NUM_KEYPOINTS, PART_NAMES
from posenet.errors import PosenetError
from posenet.images import read_image
from posenet.pose import Pose
from posenet.predict import Prediction
from posenet.preprocess import letterbox

DATA = Path(__file__).parent / "data" / "images"


def _pose(score: float, xy: tuple[float, float], part_score: float = 0.9) -> Pose:
    keypoints = np.array(xy, float) + np.stack([np.arange(NUM_KEYPOINTS) * 3.0, np.arange(NUM_KEYPOINTS) * 4.0], 1)
    return Pose(score, keypoints, np.full(NUM_KEYPOINTS, part_score))


def _prediction(image_hw: tuple[int, int], input_size: int = 65, stride: int = 8, poses=()) -> Prediction:
    """Synthetic prediction with zero maps, geometry from the real letterbox."""
    box = letterbox(image_hw, (input_size, input_size))
    g = (input_size - 1) // stride + 1
    return Prediction(poses=list(poses), heatmap_scores=np.zeros((g, g, 17), np.float32),
                      offsets=np.zeros((g, g, 34), np.float32), displacements_fwd=np.zeros((g, g, 32), np.float32),
                      displacements_bwd=np.zeros((g, g, 32), np.float32), input_hw=box.input_hw,
                      padding=box.padding, scale_yx=box.scale_yx, output_stride=stride)


def test_draw_poses_marks_keypoints_and_skips_weak():
    image = np.zeros((200, 300, 3), np.uint8)
    strong, weak = _pose(0.8, (20, 20)), _pose(0.05, (200, 20))
    weak_part = _pose(0.9, (100, 20))
    weak_part.keypoint_scores[5] = 0.01
    out = viz.draw_poses(image, [strong, weak, weak_part])
    assert out.shape == image.shape and image.max() == 0                          # input untouched
    x, y = np.round(strong.keypoints[9]).astype(int)                              # left wrist: orange
    assert tuple(out[y, x]) == viz.LEFT_COLOR
    x, y = np.round(strong.keypoints[10]).astype(int)                             # right wrist: blue
    assert tuple(out[y, x]) == viz.RIGHT_COLOR
    x, y = np.round(weak.keypoints[9]).astype(int)                                # weak pose: not drawn
    assert out[y - 3:y + 4, x - 3:x + 4].max() == 0
    x, y = np.round(weak_part.keypoints[5]).astype(int)                           # weak part: not drawn
    assert tuple(out[y, x]) != viz.LEFT_COLOR
    assert viz.draw_poses(image, [weak], min_pose_score=0.0).max() > 0


@pytest.mark.parametrize("image_hw", [(100, 200), (240, 90), (65, 65)])
def test_heatmap_follows_letterbox_geometry(image_hw):
    pred = _prediction(image_hw)
    cell = (4, 2)
    pred.heatmap_scores[cell[0], cell[1], 9] = 1.0
    heat = viz.grid_to_image(pred.heatmap_scores[:, :, 9], pred, image_hw)
    top, _, left, _ = pred.padding
    expect = np.array(cell) * 8 * np.array(pred.scale_yx) - (top, left)           # image px of the cell
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    if 0 <= expect[0] < image_hw[0] and 0 <= expect[1] < image_hw[1]:
        assert np.abs(np.array(peak) - expect).max() <= 1.0
    grey = np.full((*image_hw, 3), 128, np.uint8)
    overlay = viz.heatmap_overlay(grey, pred, "leftWrist", alpha=1.0)
    assert overlay.shape == (*image_hw, 3) and overlay.dtype == np.uint8
    assert (overlay[heat == 0] == 128).all()                                      # background untouched
    if heat.max() > 0.9:
        assert tuple(overlay[peak]) != (128, 128, 128)                            # hot spot coloured
    ys, xs = viz.cell_centres(pred)
    np.testing.assert_allclose([ys[cell[0]], xs[cell[1]]], expect)


def test_part_index_accepts_names_and_indices():
    assert viz.part_index("leftWrist") == viz.part_index("left_wrist") == viz.part_index(9) == viz.part_index("9") == 9
    with pytest.raises(PosenetError, match="unknown keypoint"):
        viz.part_index("tail")


def test_figures_render_and_save_atomically(tmp_path):
    image = np.ascontiguousarray(read_image(DATA / "backpackman.jpg")[::4, ::3])       # 129 x 171: fast figures
    pose = _pose(0.9, (50, 20))
    pred = _prediction(image.shape[:2], input_size=65, stride=8, poses=[pose])
    pred.heatmap_scores[2:5, 3:6, :] = 0.7
    pred.offsets[..., :17] = 3.0
    pred.displacements_fwd[..., 4] = 20.0
    figures = {
        "grid": viz.heatmap_grid(image, pred, title="grid"),
        "offsets": viz.offset_field(image, pred, "nose"),
        "disp": viz.displacement_field(image, pred, 4, "fwd"),
        "disp_bwd": viz.displacement_field(image, pred, 4, "bwd"),
        "sbs": viz.side_by_side([image, image], ["pretrained", "trained"]),
        "sheet": viz.contact_sheet([DATA / "pose.jpg", image], cols=2),
    }
    titles = [ax.get_title() for ax in figures["grid"].axes]
    assert all(f"{name} (max" in " ".join(titles) for name in PART_NAMES)
    assert "9 cells" in figures["offsets"].axes[0].get_title()
    assert "nose -> leftShoulder" in figures["disp"].axes[0].get_title()
    assert "leftShoulder -> nose" in figures["disp_bwd"].axes[0].get_title()
    assert [ax.get_title() for ax in figures["sheet"].axes[:2]] == ["pose.jpg", ""]
    for name, fig in figures.items():
        viz.save_figure(fig, tmp_path / f"{name}.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in figures)
    assert read_image(tmp_path / "grid.png").std() > 10


def test_displacement_field_rejects_bad_edge():
    pred = _prediction((50, 50))
    with pytest.raises(PosenetError, match="edge 16"):
        viz.displacement_field(np.zeros((50, 50, 3), np.uint8), pred, 16)


def test_ground_truth_poses_skip_unlabelled_persons():
    persons = np.zeros((3, NUM_KEYPOINTS, 3))
    persons[0, :, :2] = 10.0
    persons[0, :5, 2] = 2
    persons[2, 3] = (40.0, 50.0, 1)  # one labelled, not visible keypoint still counts
    truth = viz.ground_truth_poses(persons)
    assert len(truth) == 2 and [p.score for p in truth] == [1.0, 1.0]
    assert truth[0].keypoint_scores.tolist() == [1.0] * 5 + [0.0] * 12
    assert truth[1].keypoints[3].tolist() == [40.0, 50.0] and truth[1].keypoint_scores.sum() == 1


def test_telling_edge_is_the_longest_confident_displacement():
    from posenet.constants import POSE_CHAIN

    pred = _prediction((65, 65), input_size=65, stride=8)
    first_edge = {}
    for e, (parent, _) in enumerate(POSE_CHAIN):
        first_edge.setdefault(parent, e)
    (weak, short, long_), parents = list(first_edge.values())[:3], list(first_edge)[:3]
    for cell, parent, score in zip((1, 3, 5), parents, (0.3, 0.9, 0.8)):
        pred.heatmap_scores[cell, cell, parent] = score
    for cell, edge, length in zip((1, 3, 5), (weak, short, long_), (100.0, 10.0, 30.0)):
        pred.displacements_fwd[cell, cell, edge] = length       # dy; dx stays 0
    assert viz.telling_edge(pred) == long_                      # the weak parent's longer edge is passed over
    pred.heatmap_scores[...] = 0.0
    pred.heatmap_scores[1, 1, parents[0]] = 0.2                 # nothing confident: the strongest parent's edge
    assert viz.telling_edge(pred) == weak


def test_strongest_part_is_the_highest_peak_anywhere():
    pred = _prediction((65, 65), input_size=65, stride=8)
    pred.heatmap_scores[0, 0, 3] = 0.6
    pred.heatmap_scores[8, 2, 11] = 0.7
    pred.heatmap_scores[:, :, 5] = 0.65                         # broad but lower everywhere
    assert viz.strongest_part(pred) == 11
