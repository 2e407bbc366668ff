"""posenet.viz.figures: report figures (rendered and saved), and what the visualize stage picks to show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from prediction_cases import synthetic_pose, synthetic_prediction

from posenet.constants import NUM_KEYPOINTS, PART_NAMES
from posenet.errors import PosenetError
from posenet.io.media import read_image
from posenet.viz import figures, predictions

DATA = Path(__file__).parents[1] / "data" / "images"

def test_figures_render_and_save_atomically(tmp_path):
    image = np.ascontiguousarray(read_image(DATA / "backpackman.jpg")[::4, ::3])       # 129 x 171: fast figures
    pose = synthetic_pose(0.9, (50, 20))
    pred = synthetic_prediction(image.shape[:2], input_size=65, stride=8, poses=[pose])
    pred.heatmap_scores[2:5, 3:6, :] = 0.7
    pred.offsets[..., :17] = 3.0
    pred.displacements_fwd[..., 4] = 20.0
    rendered = {
        "grid": predictions.heatmap_grid(image, pred, title="grid"),
        "offsets": predictions.offset_field(image, pred, "nose"),
        "disp": predictions.displacement_field(image, pred, 4, "fwd"),
        "disp_bwd": predictions.displacement_field(image, pred, 4, "bwd"),
        "sbs": figures.side_by_side([image, image], ["pretrained", "trained"]),
        "sheet": figures.contact_sheet([DATA / "pose.jpg", image], cols=2),
    }
    titles = [ax.get_title() for ax in rendered["grid"].axes]
    assert all(f"{name} (max" in " ".join(titles) for name in PART_NAMES)
    assert "9 cells" in rendered["offsets"].axes[0].get_title()
    assert "nose -> leftShoulder" in rendered["disp"].axes[0].get_title()
    assert "leftShoulder -> nose" in rendered["disp_bwd"].axes[0].get_title()
    assert [ax.get_title() for ax in rendered["sheet"].axes[:2]] == ["pose.jpg", ""]
    for name, fig in rendered.items():
        figures.save_figure(fig, tmp_path / f"{name}.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in rendered)
    assert read_image(tmp_path / "grid.png").std() > 10


def test_displacement_field_rejects_bad_edge():
    pred = synthetic_prediction((50, 50))
    with pytest.raises(PosenetError, match="edge 16"):
        predictions.displacement_field(np.zeros((50, 50, 3), np.uint8), pred, 16)


def test_ground_truth_poses_skip_unlabelled_persons():
    persons = np.zeros((3, NUM_KEYPOINTS, 3))
    persons[0, :, :2] = 10.0
    persons[0, :5, 2] = 2
    persons[2, 3] = (40.0, 50.0, 1)  # one labelled, not visible keypoint still counts
    truth = predictions.ground_truth_poses(persons)
    assert len(truth) == 2 and [p.score for p in truth] == [1.0, 1.0]
    assert truth[0].keypoint_scores.tolist() == [1.0] * 5 + [0.0] * 12
    assert truth[1].keypoints[3].tolist() == [40.0, 50.0] and truth[1].keypoint_scores.sum() == 1


def test_telling_edge_is_the_longest_confident_displacement():
    from posenet.constants import POSE_CHAIN

    pred = synthetic_prediction((65, 65), input_size=65, stride=8)
    first_edge = {}
    for e, (parent, _) in enumerate(POSE_CHAIN):
        first_edge.setdefault(parent, e)
    (weak, short, long_), parents = list(first_edge.values())[:3], list(first_edge)[:3]
    for cell, parent, score in zip((1, 3, 5), parents, (0.3, 0.9, 0.8)):
        pred.heatmap_scores[cell, cell, parent] = score
    for cell, edge, length in zip((1, 3, 5), (weak, short, long_), (100.0, 10.0, 30.0)):
        pred.displacements_fwd[cell, cell, edge] = length       # dy; dx stays 0
    assert predictions.telling_edge(pred) == long_                      # the weak parent's longer edge is passed over
    pred.heatmap_scores[...] = 0.0
    pred.heatmap_scores[1, 1, parents[0]] = 0.2                 # nothing confident: the strongest parent's edge
    assert predictions.telling_edge(pred) == weak


def test_strongest_part_is_the_highest_peak_anywhere():
    pred = synthetic_prediction((65, 65), input_size=65, stride=8)
    pred.heatmap_scores[0, 0, 3] = 0.6
    pred.heatmap_scores[8, 2, 11] = 0.7
    pred.heatmap_scores[:, :, 5] = 0.65                         # broad but lower everywhere
    assert predictions.strongest_part(pred) == 11


def test_figures_do_not_load_pyplot(tmp_path):
    """Report figures are plain Figure objects: importing, rendering and saving them does not load pyplot (so no
    global backend is chosen for the process)."""
    code = ("import sys, numpy as np; from posenet.viz import figures; "
            "figures.save_figure(figures.side_by_side([np.zeros((8, 8, 3), np.uint8)]), sys.argv[1]); "
            "sys.exit('matplotlib.pyplot' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path / "f.png")], check=False).returncode == 0
    assert read_image(tmp_path / "f.png").shape[2] == 3
