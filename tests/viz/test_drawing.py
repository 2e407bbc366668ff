"""posenet.viz.drawing: skeleton drawing, heatmap geometry (letterbox undone), keypoint names."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from prediction_cases import synthetic_pose, synthetic_prediction

from posenet.errors import PosenetError
from posenet.viz import drawing


def test_draw_poses_marks_keypoints_and_skips_weak():
    image = np.zeros((200, 300, 3), np.uint8)
    strong, weak = synthetic_pose(0.8, (20, 20)), synthetic_pose(0.05, (200, 20))
    weak_part = synthetic_pose(0.9, (100, 20))
    weak_part.keypoint_scores[5] = 0.01
    out = drawing.draw_poses(image, [strong, weak, weak_part])
    assert out.shape == image.shape and image.max() == 0                          # input untouched
    x, y = np.round(strong.keypoints[9]).astype(int)                              # left wrist: orange
    assert tuple(out[y, x]) == drawing.LEFT_COLOR
    x, y = np.round(strong.keypoints[10]).astype(int)                             # right wrist: blue
    assert tuple(out[y, x]) == drawing.RIGHT_COLOR
    x, y = np.round(weak.keypoints[9]).astype(int)                                # weak pose: not drawn
    assert out[y - 3:y + 4, x - 3:x + 4].max() == 0
    x, y = np.round(weak_part.keypoints[5]).astype(int)                           # weak part: not drawn
    assert tuple(out[y, x]) != drawing.LEFT_COLOR
    assert drawing.draw_poses(image, [weak], min_pose_score=0.0).max() > 0


def test_tracked_poses_take_their_track_colour_and_an_id_label():
    import dataclasses

    image = np.zeros((200, 300, 3), np.uint8)
    untracked = synthetic_pose(0.8, (20, 20))
    tracked = dataclasses.replace(synthetic_pose(0.8, (150, 20)), track_id=3)
    out = drawing.draw_poses(image, [untracked, tracked])
    for k in (9, 10):                                                             # both wrists: the track's colour
        x, y = np.round(tracked.keypoints[k]).astype(int)
        assert tuple(out[y, x]) == drawing.track_color(3) == drawing.TRACK_COLORS[2]
    x, y = np.round(untracked.keypoints[10]).astype(int)
    assert tuple(out[y, x]) == drawing.RIGHT_COLOR                                # untracked: sides as before
    # The label box (dark grey) of "#3 0.80" is wider than that of "0.80".
    def label_width(pose) -> int:
        return int((drawing.draw_poses(image, [pose]) == 20).all(axis=2).any(axis=0).sum())

    assert label_width(tracked) > label_width(dataclasses.replace(tracked, track_id=None)) > 0
    assert drawing.track_color(1 + len(drawing.TRACK_COLORS)) == drawing.track_color(1)


@pytest.mark.parametrize("image_hw", [(100, 200), (240, 90), (65, 65)])
def test_heatmap_follows_letterbox_geometry(image_hw):
    pred = synthetic_prediction(image_hw)
    cell = (4, 2)
    pred.heatmap_scores[cell[0], cell[1], 9] = 1.0
    heat = drawing.grid_to_image(pred.heatmap_scores[:, :, 9], pred.letterbox, 8)
    top, _, left, _ = pred.letterbox.padding
    expect = np.array(cell) * 8 * np.array(pred.letterbox.scale_yx) - (top, left)           # image px of the cell
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    if 0 <= expect[0] < image_hw[0] and 0 <= expect[1] < image_hw[1]:
        assert np.abs(np.array(peak) - expect).max() <= 1.0
    grey = np.full((*image_hw, 3), 128, np.uint8)
    overlay = drawing.heatmap_overlay(grey, pred.heatmap_scores, pred.letterbox, 8, "leftWrist", alpha=1.0)
    assert overlay.shape == (*image_hw, 3) and overlay.dtype == np.uint8
    assert (overlay[heat == 0] == 128).all()                                      # background untouched
    if heat.max() > 0.9:
        assert tuple(overlay[peak]) != (128, 128, 128)                            # hot spot coloured
    ys, xs = drawing.cell_centres(pred.letterbox, 8, pred.heatmap_scores.shape[:2])
    np.testing.assert_allclose([ys[cell[0]], xs[cell[1]]], expect)


def test_part_index_accepts_names_and_indices():
    assert (drawing.part_index("leftWrist") == drawing.part_index("left_wrist") == drawing.part_index(9)
            == drawing.part_index("9") == 9)
    with pytest.raises(PosenetError, match="unknown keypoint"):
        drawing.part_index("tail")


def test_runtime_overlays_do_not_load_matplotlib():
    """The inference path (infer, serving, video, predict) draws with OpenCV only."""
    code = ("import sys; import posenet.viz.drawing, posenet.apps.inferencer, posenet.apps.serving, "
            "posenet.apps.video, posenet.inference.predictor; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
