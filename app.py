"""Streamlit app: PoseNet on photos, camera snapshots, videos and the live camera, with the latest trained model.

Run ``streamlit run app.py`` from the repository root. Serves ``models/trained/model.pt`` when present,
else the converted pretrained model (fetched and converted on first use). The logic lives in
``posenet.apps.serving``, ``posenet.inference``, ``posenet.viz.drawing`` and ``posenet.viz.figures``; this file
only lays out the page.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from posenet.apps import serving, video
from posenet.constants import PART_NAMES
from posenet.errors import ImageError, PosenetError
from posenet.inference.config import PredictorConfig, sizes_text
from posenet.inference.predictor import Predictor
from posenet.io.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, decode_image_bytes
from posenet.models.mobilenet import PoseNet
from posenet.params import PREDICT_PRESETS, Params, load_params
from posenet.pose import poses_to_json, shown_poses
from posenet.runtime.backends import BACKENDS
from posenet.tracking.pipeline import VideoTracking
from posenet.viz import drawing, predictions

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "assets" / "samples"
IMAGE_TYPES = tuple(sorted(IMAGE_EXTENSIONS))
ALL_PARTS = "all parts (max)"
INPUTS = ("Sample photo", "Upload image or video", "Camera snapshot", "Live camera")


@st.cache_resource(show_spinner=False, max_entries=4)
def get_model(path: str, stride: int, mtime: float) -> tuple[PoseNet, serving.ModelInfo]:
    """Cached (model, ModelInfo); ``mtime`` is part of the key so a retrained file is reloaded."""
    return serving.load_serving_model(path, stride, root=ROOT)


@st.cache_resource(show_spinner=False, max_entries=8)
def get_predictor(path: str, stride: int, mtime: float, _params: Params, settings: tuple[tuple[str, Any], ...]
                  ) -> Predictor:
    """Cached Predictor of the served model with the sidebar's ``settings`` (preset, input size, decoding, backend):
    reruns that change none of them (a new upload, a display slider) do not rebuild the backend, which may
    compile or quantise the model for seconds."""
    model, _ = get_model(path, stride, mtime)
    return Predictor.from_params(_params, model=model, **dict(settings))


@st.cache_data(show_spinner=False, max_entries=16)
def model_variant(path: str, mtime: float, _params: Params) -> str:
    """Variant of the chosen checkpoint, cached; ``mtime`` is part of the key so a replaced file is re-read."""
    return serving.model_variant(path, _params, ROOT)


def relative(path: Path) -> str:
    """``path`` relative to the repository root when inside it (for display)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def apply_preset(params: Params) -> None:
    """Preset changed: the decoding controls it sets take its values (the user may change them again)."""
    defaults = PredictorConfig.from_params(params.predict, st.session_state["preset"])
    st.session_state["score_threshold"] = float(defaults.score_threshold)
    st.session_state["max_poses"] = int(defaults.max_poses)
    st.session_state["backend"] = defaults.backend


def sidebar(params: Params) -> dict[str, Any]:
    """All controls; returns their values."""
    sb = st.sidebar
    sb.header("Model")
    model_path = sb.selectbox("Model file", serving.model_choices(params, ROOT), format_func=relative, key="model_file")
    mtime = model_path.stat().st_mtime if model_path.is_file() else 0.0
    strides, default_stride = serving.stride_choices(model_variant(str(model_path), mtime, params), params.model.stride)
    stride = sb.selectbox("Output stride", strides, index=strides.index(default_stride), key="stride")
    preset = sb.selectbox("Preset", PREDICT_PRESETS, index=PREDICT_PRESETS.index(params.predict.preset), key="preset",
                          help="tfjs: TF.js PoseNet exactly; fast: one larger input cut to the photo, on int8 (more AP "
                               "in half the time on a CPU); accurate: two larger inputs and their mirror images "
                               "fused (docs/benchmarks.md: Speed and accuracy per preset)",
                          on_change=apply_preset, args=(params,))
    defaults = PredictorConfig.from_params(params.predict, preset)
    sizes = serving.input_size_choices(stride)
    configured = serving.nearest_choice(params.predict.input_size, sizes)
    scaled = defaults.scales != (1.0,)  # the preset sets its own input sizes, from predict.input_size
    input_size = sb.select_slider("Model input side (px, k*stride+1)", sizes, value=configured, key="input_size",
                                  disabled=scaled,
                                  help="Larger: smaller people found, slower. Presets fast and accurate set their "
                                       "own sizes from params predict.input_size")
    input_size = configured if scaled else input_size
    config = defaults.replace(input_size=input_size)
    runs = sizes_text(config.scale_hws(config.input_hw(stride), stride), config.fit_aspect, config.flip)
    sb.caption(f"Runs at {runs}")
    st.session_state.setdefault("backend", PredictorConfig.from_params(params.predict).backend)  # later: apply_preset's
    backend = sb.selectbox("Backend", BACKENDS, key="backend",
                           help="How the forward pass runs: eager PyTorch, fused TorchScript, ONNX Runtime fp32 / "
                                "int8, bfloat16 (see the backends table in docs/benchmarks.md)")
    sb.header("Decoding")
    st.session_state.setdefault("score_threshold", float(defaults.score_threshold))  # later: apply_preset's
    st.session_state.setdefault("max_poses", int(defaults.max_poses))
    multi = sb.radio("Poses", ("multi-pose", "single-pose"), index=0 if params.predict.multi_pose else 1,
                     horizontal=True, key="mode") == "multi-pose"
    score_threshold = sb.slider("Part score a pose root needs", 0.0, 1.0, step=0.05, disabled=not multi,
                                key="score_threshold",
                                help="A pose is decoded from a keypoint whose heatmap score is at least this "
                                     "(params predict.score_threshold); lower finds more, weaker poses")
    nms_radius = sb.slider("Pose separation (NMS radius, model-input px)", 1.0, 60.0,
                           float(params.predict.nms_radius), 1.0, disabled=not multi, key="nms_radius",
                           help="A root this close to the same keypoint of a pose already found starts no new pose")
    max_poses = int(sb.number_input("Max poses", 1, 50, disabled=not multi, key="max_poses",
                                    help="At most this many poses are decoded per image"))
    sb.header("Display")
    min_pose_score = sb.slider("Minimum pose score", 0.0, 1.0, float(params.predict.min_pose_score), 0.05,
                               key="min_pose_score",
                               help="Poses scoring below this are not shown, drawn or downloaded: PoseNet also returns "
                                    "weak duplicates and background poses (params predict.min_pose_score)")
    min_part_score = sb.slider("Minimum keypoint score to draw", 0.0, 1.0, drawing.MIN_PART_SCORE, 0.05,
                               key="min_part_score", help="Keypoints scoring below this are not drawn")
    part = sb.selectbox("Heatmap / offsets part", (ALL_PARTS, *PART_NAMES), key="part")
    sb.header("Video and live camera")
    track = sb.checkbox("Track people (an id and a colour each)", True, key="track",
                        help="Poses linked from frame to frame by keypoint similarity (params track.*)")
    smooth = sb.checkbox("Smooth keypoints (One Euro filter)", True, key="smooth", disabled=not track,
                         help="Less jitter, a little lag on fast moves (params track.min_cutoff, beta, d_cutoff)")
    return dict(model_path=Path(model_path), stride=stride, input_size=input_size, backend=backend, multi=multi,
                score_threshold=score_threshold, nms_radius=nms_radius, max_poses=max_poses,
                preset=preset,
                min_pose_score=min_pose_score, min_part_score=min_part_score, part=None if part == ALL_PARTS else part,
                track=track, smooth=track and smooth)


def tracking(params: Params, c: dict[str, Any]) -> VideoTracking | None:
    """A fresh tracker for one video or camera session with params ``track.*`` and the sidebar's choices."""
    return VideoTracking(**params.track.options(smooth=c["smooth"])) if c["track"] else None


def serving_model(params: Params, c: dict[str, Any]) -> tuple[PoseNet, serving.ModelInfo]:
    """(model, info) for the chosen file, fetching + converting the pretrained weights on first use."""
    path = c["model_path"]
    if path == serving.offered_pretrained_path(params, ROOT) and not path.is_file():
        with st.spinner(f"First run: fetching and converting the pretrained {params.model.name} weights..."):
            path = serving.ensure_pretrained(params, ROOT)
    return get_model(str(path), c["stride"], path.stat().st_mtime)


def show_image(image: np.ndarray, name: str, predictor: Predictor, c: dict[str, Any]) -> None:
    """Poses, overlays, tables, timing and the JSON download for one RGB image."""
    prediction = predictor.run(image)
    poses = shown_poses(prediction.poses, c["min_pose_score"])
    st.success(f"{len(poses)} pose{'' if len(poses) == 1 else 's'} found in {name} ({image.shape[1]}x"
               f"{image.shape[0]} px; {len(prediction.poses)} decoded, shown: score >= {c['min_pose_score']:.2f})")
    timings = prediction.timings_ms
    st.caption("Timing: " + ", ".join(f"{k} {v:.1f} ms" for k, v in timings.items())
               + f" — total {sum(timings.values()):.1f} ms")
    left, right = st.columns(2)
    left.image(drawing.draw_poses(image, poses, c["min_part_score"], c["min_pose_score"]), caption="Poses",
               width="stretch")
    right.image(drawing.heatmap_overlay(image, prediction.heatmap_scores, prediction.letterbox,
                                            prediction.output_stride, c["part"]), width="stretch",
                caption=f"Heatmap score: {c['part'] or ALL_PARTS}")
    st.subheader("Poses")
    st.dataframe(pd.DataFrame(serving.pose_rows(poses, c["min_part_score"])), hide_index=True)
    with st.expander("Keypoints of every pose"):
        st.dataframe(pd.DataFrame(serving.keypoint_rows(poses)), hide_index=True)
    offsets_part = c["part"] or PART_NAMES[predictions.strongest_part(prediction)]
    with st.expander(f"Short-range offsets: {offsets_part}"):
        fig = predictions.offset_field(image, prediction, offsets_part)
        fig.set_dpi(90)
        st.pyplot(fig)
    payload = {name: poses_to_json(poses)}  # the schema of stages/infer.py's poses.json
    st.download_button("Download poses JSON", json.dumps(payload, indent=2), mime="application/json",
                       file_name=f"{Path(name).stem}_poses.json")
    with st.expander("Poses JSON"):
        st.json(payload, expanded=False)


def show_video(upload: UploadedFile, predictor: Predictor, params: Params, c: dict[str, Any]) -> None:
    """Annotate an uploaded video once per (file, settings), then play it and offer downloads."""
    key = (upload.file_id, tuple(sorted((k, str(v)) for k, v in c.items())))
    done = st.session_state.setdefault("video_results", {})
    if key not in done:
        bar = st.progress(0.0, text=f"Annotating {upload.name}...")

        def progress(frame: int, total: int) -> None:
            bar.progress(frame / total if total else 0.0,
                         text=f"Annotating {upload.name}: frame {frame}" + (f" of {total}" if total else ""))

        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"input{Path(upload.name).suffix.lower()}"
            source.write_bytes(upload.getvalue())
            try:
                result = serving.annotate_video(source, Path(tmp) / f"annotated{serving.VIDEO_SUFFIX}", predictor,
                                                c["min_part_score"], c["min_pose_score"], progress=progress,
                                                tracking=tracking(params, c))
            except ImageError as err:  # name the upload, not the temporary copy
                raise ImageError(str(err).replace(str(source), upload.name)) from None
            finally:
                bar.empty()
            done.clear()  # keep only the latest video in memory
            done[key] = (result.path.read_bytes(), result.frames,  # JSON: stages/infer.py's <stem>_poses.json
                         video.poses_record(upload.name, result.fps, result.results))
    data, frames, record = done[key]
    ids = {pose["track_id"] for poses in record["frames"] for pose in poses if "track_id" in pose}
    st.success(f"{frames} frames annotated ({record['fps']:.1f} fps), "
               f"{sum(map(len, record['frames']))} poses found in {upload.name}"
               + (f", {len(ids)} track{'s' * (len(ids) != 1)}" if ids else ""))
    st.video(data, format=serving.VIDEO_MIME)
    stem = Path(upload.name).stem
    st.download_button("Download annotated video", data, file_name=f"{stem}_pose{serving.VIDEO_SUFFIX}",
                       mime=serving.VIDEO_MIME)
    st.download_button("Download poses JSON (per frame)", json.dumps(record, indent=2),
                       file_name=f"{stem}_poses.json", mime="application/json")


def show_live(predictor: Predictor, params: Params, c: dict[str, Any]) -> None:
    """The browser's camera streamed to the server over WebRTC (streamlit-webrtc), each frame annotated as it
    comes (posenet.apps.serving.LiveAnnotator) and streamed back, with the frame rate on the page."""
    import av
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    key = (id(predictor), tuple(sorted((k, str(v)) for k, v in c.items())))
    if st.session_state.get("live_annotator_key") != key:    # new settings: a new annotator, new tracks
        st.session_state["live_annotator_key"] = key
        st.session_state["live_annotator"] = serving.LiveAnnotator(predictor, tracking(params, c),
                                                                   c["min_part_score"], c["min_pose_score"])
    annotator: serving.LiveAnnotator = st.session_state["live_annotator"]

    def annotate(frame: av.VideoFrame) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(annotator(frame.to_ndarray(format="rgb24")), format="rgb24")

    # No STUN/TURN server: the browser and this server reach each other directly (same machine or network),
    # and nothing is fetched from the internet.
    context = webrtc_streamer(key="live", mode=WebRtcMode.SENDRECV, video_frame_callback=annotate,
                              rtc_configuration={"iceServers": []},
                              media_stream_constraints={"video": True, "audio": False})
    readout = st.empty()
    while context.state.playing:                         # the script stays here while the camera streams
        ids = sorted({p.track_id for p in annotator.poses if p.track_id is not None})
        readout.markdown(f"**Live: {annotator.fps:.1f} fps**, {annotator.frames} frames, {len(annotator.poses)} "
                         f"poses" + (f" (ids {', '.join(f'#{i}' for i in ids)})" if ids else ""))
        time.sleep(0.5)
    readout.caption("Press START to stream the camera (the browser asks for permission once).")


def main() -> None:
    """Lay out the page: sidebar controls, the serving model, then the chosen input's results."""
    st.set_page_config(page_title="PoseNet", layout="wide")
    st.title("PoseNet pose estimation")
    try:
        params = load_params(ROOT / "params.yaml")
    except PosenetError as err:
        st.error(f"params.yaml: {err}")
        st.stop()
    try:
        c = sidebar(params)
        _, info = serving_model(params, c)
    except PosenetError as err:
        st.error(f"Cannot load the model: {err}")
        st.stop()
    st.info(f"Serving the **{info.kind}** model **{info.variant}** (stride {info.stride}) from "
            f"`{relative(info.path)}`")
    try:
        settings = {"preset": c["preset"], "input_size": c["input_size"], "multi_pose": c["multi"],
                    "max_poses": c["max_poses"], "score_threshold": c["score_threshold"],
                    "nms_radius": c["nms_radius"], "backend": c["backend"],
                    "calibration": str(ROOT / params.predict.calibration)}
        predictor = get_predictor(str(info.path), info.stride, info.path.stat().st_mtime, params,
                                  tuple(sorted(settings.items())))
    except PosenetError as err:
        st.error(f"Backend {c['backend']}: {err}")
        st.stop()

    source = st.radio("Input", INPUTS, horizontal=True, key="input")
    try:
        if source == INPUTS[0]:
            sample = st.selectbox("Sample photo", sorted(SAMPLES.glob("*.jpg")), format_func=lambda p: p.name,
                                  key="sample")
            show_image(decode_image_bytes(sample.read_bytes(), sample.name), sample.name, predictor, c)
        elif source == INPUTS[1]:
            upload = st.file_uploader("Image (jpg, png, webp) or video (mp4, mov, avi, webm, mkv, ...)",
                                      key="upload")
            if upload is not None:
                suffix = Path(upload.name).suffix.lower()
                if suffix in IMAGE_TYPES:
                    show_image(decode_image_bytes(upload.getvalue(), upload.name), upload.name, predictor, c)
                elif suffix in VIDEO_EXTENSIONS:
                    show_video(upload, predictor, params, c)
                else:
                    raise ImageError(f"{upload.name}: unsupported file type {suffix or '(none)'}; upload an image "
                                     f"({', '.join(IMAGE_TYPES)}) or a video ({', '.join(sorted(VIDEO_EXTENSIONS))})")
        elif source == INPUTS[2]:
            snapshot = st.camera_input("Take a photo", key="camera")
            if snapshot is not None:
                show_image(decode_image_bytes(snapshot.getvalue(), "camera snapshot"), "camera snapshot", predictor, c)
        else:
            show_live(predictor, params, c)
    except PosenetError as err:
        st.error(f"Cannot use this input: {err}")


main()
