import dataclasses
from pathlib import Path

import pytest
import yaml
from params_support import committed_params

from posenet.errors import ParamsError
from posenet.params import Params, load_params

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _repo_params() -> dict:
    return committed_params()


def test_repo_params_equal_the_dataclass_defaults_field_by_field(tmp_path):
    """params.yaml and the dataclasses are one source of truth: every field, nested sections included."""
    params = load_params(_write(tmp_path, _repo_params()))
    assert isinstance(params, Params)
    assert params.model.name == _repo_params()["model"]["name"]
    assert params.predict.input_size % params.model.stride == 1
    loaded, defaults = dataclasses.asdict(params), dataclasses.asdict(Params())

    def leaves(tree: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in tree.items():
            out.update(leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    assert leaves(loaded) == leaves(defaults)
    assert len(leaves(defaults)) > 60  # every leaf compared, not just the sections


def test_without_a_path_params_yaml_of_the_working_folder_or_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_params() == Params()                                    # outside a checkout: the defaults
    raw = _repo_params()
    raw["predict"]["max_poses"] = 3
    _write(tmp_path, raw)
    assert load_params().predict.max_poses == 3


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such parameters file"),                      # a typo must not run on the defaults
    (lambda p: p.mkdir(), "is a folder, not a parameters file"),
    (lambda p: p.write_bytes(b"model:\n  name: \xff\xfe\x00\x9c\n"), r"not UTF-8 text \(byte 15\)"),
    (lambda p: p.write_text("model:\n  name: [x\n"), "not valid YAML at line 3 column 1"),
])
def test_an_explicit_path_that_cannot_be_read_is_one_line_naming_it(tmp_path, make, message):
    path = tmp_path / "parmas.yaml"
    make(path)
    with pytest.raises(ParamsError, match=f"^{path}: {message}") as info:
        load_params(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("command", [["export", "--out", "x.onnx"], ["infer", "photo.jpg"], ["benchmark"]])
def test_commands_refuse_a_params_path_that_does_not_exist(tmp_path, monkeypatch, command):
    from click.testing import CliRunner

    from posenet.commands import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, "--params", "parmas.yaml"])
    assert result.exit_code == 2
    assert result.output == "error: parmas.yaml: no such parameters file\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("model", "name", "resnet50", "model.name"),
        ("model", "stride", 12, "model.stride"),
        ("targets", "radius", -1, "targets.radius"),
        ("predict", "input_size", 500, "predict.input_size"),
        ("targets", "input_size", 256, "targets.input_size"),
        ("predict", "score_threshold", 1.5, "predict.score_threshold"),
        ("predict", "preset", "fastest", "predict.preset"),
        ("train", "lr", 0, "train.lr"),
        ("train", "wandb", "maybe", "train.wandb"),
        ("weights", "source", "ftp", "weights.source"),
        ("data", "format", "pascal", "data.format"),
        ("predict", "backend", "tensorrt", "predict.backend"),
        ("benchmark", "backends", ["eager", "tpu"], "benchmark.backends"),
        ("predict", "streams", 0, "predict.streams"),
        ("benchmark", "batch_threads", -1, "benchmark.batch_threads"),
        ("track", "similarity", "euclidean", "track.similarity"),
        ("track", "keypoint_threshold", 1.5, "track.keypoint_threshold"),
        ("track", "min_keypoints", 0, "track.min_keypoints"),
        ("track", "min_keypoints", 18, "track.min_keypoints"),
        ("track", "max_tracks", 0, "track.max_tracks"),
        ("track", "min_pose_score", -0.1, "track.min_pose_score"),
        ("track", "max_age", -1, "track.max_age"),
        ("track", "min_similarity", 2, "track.min_similarity"),
        ("track", "min_cutoff", 0, "track.min_cutoff"),
        ("track", "d_cutoff", -1, "track.d_cutoff"),
        ("track", "beta", -300, "track.beta"),
        ("track", "enabled", "yes", "track.enabled"),
        ("track", "max_tracks", 2.5, "track.max_tracks"),
        ("train", "patience", -1, "train.patience = -1 must be 0"),
        ("train", "threads", -2, "train.threads = -2 must be 0"),
        ("train", "precision", "fp16", "train.precision"),
        ("evaluate", "presets", ["tfjs", "slow"], "evaluate.presets"),
        ("data", "split", "video", "data.split"),
        ("data", "group_pattern", "([a-z]", "is not a regular expression"),
    ],
)
def test_impossible_values_name_the_key(tmp_path, section, key, value, message):
    raw = _repo_params()
    raw[section][key] = value
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        load_params(_write(tmp_path, raw))


def test_bad_track_values_fail_the_cli_in_one_line(tmp_path):
    """`posenet infer --params` with an impossible track.* value: one line, exit 2, before any model is loaded."""
    import subprocess
    import sys

    raw = _repo_params()
    raw["track"]["max_age"] = -2
    photo = REPO / "tests" / "data" / "images" / "pose.jpg"
    done = subprocess.run([sys.executable, "-m", "posenet", "infer", str(photo), "--track", "--params",
                           str(_write(tmp_path, raw)), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: track.max_age = -2.0 must not be negative (seconds)"]
    assert not (tmp_path / "out").exists()


def test_unknown_key_and_wrong_type_are_errors(tmp_path):
    raw = _repo_params()
    raw["train"]["learning_rate"] = 0.1
    with pytest.raises(ParamsError, match="train.learning_rate"):
        load_params(_write(tmp_path, raw))
    raw = _repo_params()
    raw["train"]["batch_size"] = "four"
    with pytest.raises(ParamsError, match="train.batch_size"):
        load_params(_write(tmp_path, raw))


def test_stride_8_requires_matching_input_size(tmp_path):
    raw = _repo_params()
    raw["model"]["stride"] = 8
    raw["predict"]["input_size"] = 257
    raw["targets"]["input_size"] = 257
    assert load_params(_write(tmp_path, raw)).model.stride == 8


def test_malformed_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


def test_unreachable_stride_fails_before_any_work(tmp_path):
    raw = _repo_params()
    raw["model"].update(name="mobilenet_v1_075", stride=32)
    raw["predict"]["input_size"] = 513
    raw["targets"]["input_size"] = 257
    with pytest.raises(ParamsError,
                       match=r"model\.stride = 32 is not reachable by mobilenet_v1_075 \(reachable: 8, 16\)"):
        load_params(_write(tmp_path, raw))
    raw["model"]["name"] = "mobilenet_v1_100"
    assert load_params(_write(tmp_path, raw)).model.stride == 32
    raw = _repo_params()
    raw["benchmark"].update(variants=["mobilenet_v1_050"], strides=[32], input_sizes=[257])
    with pytest.raises(ParamsError, match=r"benchmark\.strides = 32 is not reachable by mobilenet_v1_050"):
        load_params(_write(tmp_path, raw))


def test_model_names_are_the_registered_variants():
    from posenet.models.variants import VARIANTS
    from posenet.params import MODEL_NAMES

    assert MODEL_NAMES == tuple(VARIANTS)


def test_empty_val_split_is_refused(tmp_path):
    raw = _repo_params()
    raw["data"]["val_fraction"] = 0
    with pytest.raises(ParamsError, match=r"data\.val_fraction"):
        load_params(_write(tmp_path, raw))
