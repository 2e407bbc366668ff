"""Reading images and videos, writing annotated videos, expanding input arguments.

Every reader returns RGB ``uint8`` arrays ``[H, W, 3]`` in the image's displayed orientation (EXIF
applied) and raises :class:`~posenet.errors.ImageError` with a one-line message naming the file for
anything it cannot read: missing, empty, not an image, truncated or corrupt.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from posenet.errors import ImageError
from posenet.io.atomic import atomic_path, write_bytes_atomic

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_CODECS", "VIDEO_EXTENSIONS", "ReducedImage", "VideoInfo", "VideoReader",
           "VideoWriter", "decode_image_bytes", "expand_inputs", "is_video", "open_image", "read_image",
           "read_image_reduced", "write_image"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


def is_video(path: str | os.PathLike) -> bool:
    """True when ``path`` has a video file extension."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


# Pillow modes read as they are or through ``Image.convert("RGB")``: 8-bit per channel (16-bit RGB PNG/TIFF files
# open as 8-bit "RGB", high byte), bilevel, palette, with or without alpha (dropped, as cv2.imread drops it), CMYK.
_CONVERTIBLE_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "L", "LA", "La", "1", "P", "PA", "CMYK", "YCbCr"})
# 16-bit grey ("I;16*"), 32-bit integer ("I") and float ("F") pixels: Pillow's convert("RGB") clips them to 255
# (a 16-bit photo turns white), so they are scaled here (see ``_to_uint8``).
_WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


@contextlib.contextmanager
def open_image(source: str | os.PathLike | bytes, name: str | None = None) -> Iterator[Image.Image]:
    """Open an image with Pillow (lazily: the caller loads, drafts or converts it inside the block), the one
    opening path of every reader (infer, app, datasets). Any failure inside the block becomes ``ImageError``
    naming ``name`` (default: the path): missing, not an image, too large (Pillow's decompression-bomb limit,
    its warning treated as an error), truncated or corrupt, or a pixel format no reader here handles."""
    name = name if name is not None else "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                if img.mode not in _CONVERTIBLE_MODES | _WIDE_MODES:
                    raise ImageError(f"{name}: unsupported pixel format {img.mode} (use 8- or 16-bit RGB or grey)")
                yield img
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (unknown or unsupported format)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ImageError(f"{name}: image too large to decode safely") from err
    except (OSError, SyntaxError, ValueError) as err:
        reason = str(err).split("\n")[0] or err.__class__.__name__
        raise ImageError(f"{name}: corrupt or truncated image ({reason})") from err


def _to_uint8(img: Image.Image, name: str) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]`` of a loaded image. 16-bit values keep their high byte (``v >> 8``, as OpenCV and
    Pillow's own 16-bit RGB reading do); 32-bit integers must lie in 0..65535 (16-bit data) and floats in [0, 1]
    (scaled by 255, rounded); other ranges have no agreed meaning and are refused."""
    if img.mode in _CONVERTIBLE_MODES:
        return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    values = np.asarray(img)
    if img.mode == "F":
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (np.isfinite(values).all() and 0.0 <= low and high <= 1.0):
            raise ImageError(f"{name}: float pixels must lie in [0, 1], found {low:g}..{high:g}")
        grey = np.rint(values.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        wide = values.astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise ImageError(f"{name}: 32-bit pixels outside 0..65535 ({wide.min()}..{wide.max()}) are not supported")
        grey = (wide >> 8).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def decode_image_bytes(data: bytes, name: str = "<upload>") -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, TIFF, ...) to RGB uint8 ``[H, W, 3]`` with EXIF orientation applied.

    Every bit depth and mode Pillow reads comes out as correct 8-bit RGB (16-bit grey and RGB, palette, CMYK,
    grey + alpha, float in [0, 1]; see ``_to_uint8``) or is refused in one line. With Pillow's default
    ``ImageFile.LOAD_TRUNCATED_IMAGES = False`` (a process-wide setting this function leaves as the application
    has it) a truncated or corrupt file raises instead of returning a partly grey image (OpenCV would). For JPEG
    the pixels equal ``cv2.imread``'s (same libjpeg-turbo, same IDCT). ``name`` is only used in error messages.
    """
    return _decode(data, name).pixels


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        return path.read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from err


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 ``[H, W, 3]`` (EXIF orientation applied); ImageError if unreadable."""
    path = Path(path)
    return decode_image_bytes(_read_bytes(path), name=str(path))


class ReducedImage(NamedTuple):
    """An image decoded at 1 / ``factor`` of its size: RGB uint8 ``pixels`` ``[h, w, 3]``. Pixel ``i`` of it is the
    mean of the ``factor``-pixel block starting at full-image pixel ``factor * i + offset`` (per axis; ``offset_yx``
    is 0, or negative where EXIF orientation flipped an axis whose size ``factor`` does not divide), so a position
    ``p`` in it is ``factor * p + (factor - 1) / 2 + offset`` in full-image pixels."""

    pixels: np.ndarray
    factor: int
    offset_yx: tuple[int, int] = (0, 0)

    def to_full(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(scale_yx, offset_yx) for ``Pose.scaled``: positions in these pixels -> full-image pixels."""
        f, centre = self.factor, (self.factor - 1) / 2.0
        return (f, f), (-(centre + self.offset_yx[0]), -(centre + self.offset_yx[1]))


# EXIF orientation -> (swaps width and height, flips the shown y axis, flips the shown x axis)
_ORIENTATIONS = {1: (False, False, False), 2: (False, False, True), 3: (False, True, True), 4: (False, True, False),
                 5: (True, False, False), 6: (True, False, True), 7: (True, True, True), 8: (True, True, False)}


def read_image_reduced(path: str | os.PathLike, fit_hw: tuple[int, int]) -> ReducedImage:
    """Read an image file for a model input of ``fit_hw`` (Rh, Rw) pixels, into which it is letterboxed: a JPEG
    is decoded at the smallest DCT scale (1/2, 1/4 or 1/8, libjpeg's scaled IDCT) that still has at least the
    pixels the image keeps in that input, which skips most of the decoding and resizing work for photos much
    larger than the input. Other formats, and JPEGs that cannot shrink, are decoded whole (``factor`` 1). The
    pixels are a box filter of the full decode (within 1 grey level on average), not the full decode itself; the
    tfjs Predictor preset never uses this path. EXIF orientation is applied; errors as :func:`read_image`."""
    path = Path(path)
    return _decode(_read_bytes(path), str(path), fit_hw)


def _decode(data: bytes, name: str, fit_hw: tuple[int, int] | None = None) -> ReducedImage:
    """The one decoding path: whole (``fit_hw`` None: :func:`decode_image_bytes`) or reduced for a model input of
    ``fit_hw`` (:func:`read_image_reduced`). Pillow reads the header (format, size, mode, EXIF orientation, the
    decompression-bomb check); a complete 8-bit RGB or grey JPEG is then decoded by OpenCV (:func:`_decode_jpeg`),
    anything else by Pillow."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    with open_image(data, name) as img:
        full_w, full_h = img.size
        turn = _ORIENTATIONS.get(img.getexif().get(0x0112, 1), _ORIENTATIONS[1])
        swapped, *flips = turn
        shown_hw = (full_w, full_h) if swapped else (full_h, full_w)
        if fit_hw is not None and img.format == "JPEG":
            keep = min(1.0, fit_hw[0] / shown_hw[0], fit_hw[1] / shown_hw[1])  # the letterbox's image -> input scale
            img.draft("RGB", (math.ceil(full_w * keep), math.ceil(full_h * keep)))
        factor = max(1, round(full_w / img.size[0]))
        array = None
        if img.format == "JPEG" and img.mode in ("RGB", "L") and data.endswith(b"\xff\xd9"):
            array = _decode_jpeg(data, factor, turn, img.size)
        if array is None:
            img.load()
            array = _to_uint8(ImageOps.exif_transpose(img), name)
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name}: image has no pixels")
    offset = tuple(int(size - factor * n) if flipped else 0 for size, n, flipped in zip(shown_hw, array.shape, flips))
    return ReducedImage(np.ascontiguousarray(array), factor, offset)


# libjpeg's DCT scale -> OpenCV's flag for it (OR-ed with IMREAD_COLOR_RGB)
_JPEG_SCALE_FLAGS = {1: 0, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                     8: cv2.IMREAD_REDUCED_GRAYSCALE_8}


def _decode_jpeg(data: bytes, factor: int, turn: tuple[bool, bool, bool], stored_wh: tuple[int, int]
                 ) -> np.ndarray | None:
    """A JPEG that ends with its end-of-image marker, decoded by OpenCV at DCT scale 1 / ``factor`` and turned as
    its EXIF orientation says (``turn``: a value of ``_ORIENTATIONS``) -> RGB uint8 [H, W, 3] (a view); None where
    OpenCV fails or disagrees with Pillow about the size (the caller then decodes with Pillow, which names the
    error).

    The same libjpeg-turbo decode as Pillow's (the pixels are equal: tested), written straight into a numpy array:
    Pillow's RGBX storage costs two more copies, 2.5 ms for a 640 x 427 photo. OpenCV accepts a truncated JPEG
    (grey where the data ends) and Pillow refuses it: a file without its end marker never gets here."""
    if factor not in _JPEG_SCALE_FLAGS:
        return None
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION | _JPEG_SCALE_FLAGS[factor]
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if stored is None or stored.shape[:2] != (stored_wh[1], stored_wh[0]):
        return None
    swapped, flip_y, flip_x = turn
    shown = stored.transpose(1, 0, 2) if swapped else stored
    return shown[::-1 if flip_y else 1, ::-1 if flip_x else 1]


def write_image(path: str | os.PathLike, image_rgb: np.ndarray, quality: int = 92) -> None:
    """Write an RGB uint8 image atomically; the format follows the extension (JPEG, PNG, ...)."""
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), flags)
    if not ok:
        raise ImageError(f"{path}: cannot encode an image with this extension")
    write_bytes_atomic(path, encoded.tobytes())


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, folders (their image and video files, sorted, not recursive) and glob patterns.

    Paths that do not exist and patterns that match nothing are returned as given, so the reader
    reports them as missing in their turn; duplicates are dropped, order is kept.
    """
    out: dict[Path, None] = {}
    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
            if not found:
                log.warning("%s: folder holds no image or video file", path)
            out.update(dict.fromkeys(found))
        elif not path.exists() and glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            out.update(dict.fromkeys(matches or [path]))
        else:
            out[path] = None
    return list(out)


@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV reports about an opened video: frames per second, frame count (0 if unknown), size in px."""

    fps: float
    frame_count: int
    width: int
    height: int


class VideoReader:
    """Frames of a video file or a webcam (``source`` int index) as RGB uint8 ``[H, W, 3]``.

    Raises ImageError when the source cannot be opened, or when iteration yields no frame at all.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, source: str | os.PathLike | int, default_fps: float = 30.0) -> None:
        self.name = f"webcam {source}" if isinstance(source, int) else str(source)
        if not isinstance(source, int):
            path = Path(source)
            if not path.exists():
                raise ImageError(f"{path}: no such file")
            if path.stat().st_size == 0:
                raise ImageError(f"{path}: empty file (0 bytes)")
        self._cap = cv2.VideoCapture(source if isinstance(source, int) else str(source))
        if not self._cap.isOpened():
            self._cap.release()
            if isinstance(source, int):
                raise ImageError(f"{self.name}: no camera found at index {source} (none connected, or in use)")
            raise ImageError(f"{self.name}: cannot open as a video")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.info = VideoInfo(
            fps=fps if 0.0 < fps < 1000.0 else default_fps,
            frame_count=max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0),
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        count = 0
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                break
            count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if count == 0:
            raise ImageError(f"{self.name}: no frame could be read (not a video, or corrupt)")

    def close(self) -> None:
        """Release the capture (file handle or camera)."""
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Browser-playable codecs by container suffix: H.264 (High profile, 4:2:0) in MP4, VP9 in WebM. libx264's
# "veryfast" preset keeps encoding well below a frame's inference time; "+faststart" puts the index first so a
# browser starts playing before the whole file has arrived.
VIDEO_CODECS: dict[str, tuple[str, str, dict[str, str], dict[str, str]]] = {
    ".mp4": ("mp4", "libx264", {"crf": "23", "preset": "veryfast"}, {"movflags": "+faststart"}),
    ".webm": ("webm", "libvpx-vp9", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}, {}),
}


class VideoWriter:
    """Atomic, browser-playable video writer of RGB frames: H.264 in MP4 or VP9 in WebM (by the suffix of
    ``path``), encoded by FFmpeg through PyAV.

    Frames go to a hidden temp file beside ``path``. When the ``with`` block ends without an exception the
    encoder is flushed, the temp file is read back and must hold every frame written (a full disk or a failing
    device cannot leave a short video), and only then does it replace ``path``; on any error the temp file is
    removed and :class:`~posenet.errors.ImageError` names ``path``. Frame size is taken from the first frame;
    later frames must have the same size. An odd width or height gets one replicated column or row (4:2:0
    chroma needs even sides).
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_CODECS:
            raise ImageError(f"{self.path}: cannot write a {suffix or 'suffix-less'} video (use "
                             f"{' or '.join(VIDEO_CODECS)})")
        self.fps = float(fps)
        self.frames = 0
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._atomic = atomic_path(self.path, suffix=suffix)
        self._tmp = self._atomic.__enter__()

    def _fail(self, err: BaseException) -> ImageError:
        """One line naming the user's path (a temp path in ``err``'s text becomes it on the way out through
        ``atomic_path``, as every error of the ``with`` block does)."""
        reason = getattr(err, "strerror", None) or (str(err).splitlines() or [type(err).__name__])[0]
        return ImageError(f"{self.path}: cannot write the video ({reason})")

    def _open(self, width: int, height: int) -> None:
        import av

        container_format, codec, options, container_options = VIDEO_CODECS[self.path.suffix.lower()]
        self._container = av.open(str(self._tmp), "w", format=container_format, options=container_options)
        self._stream = self._container.add_stream(codec, rate=Fraction(self.fps).limit_denominator(1001),
                                                  options=options)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width + width % 2, height + height % 2, \
            "yuv420p"

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 ``[H, W, 3]`` frame."""
        import av

        height, width = frame_rgb.shape[:2]
        if self._size is None:
            self._size = (width, height)
            try:
                self._open(width, height)
            except (av.FFmpegError, OSError) as err:
                raise self._fail(err) from err
        elif (width, height) != self._size:
            raise ImageError(f"{self.path}: frame {self.frames} is {width}x{height}, expected {self._size[0]}x"
                             f"{self._size[1]}")
        if width % 2 or height % 2:
            frame_rgb = cv2.copyMakeBorder(frame_rgb, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb, dtype=np.uint8), format="rgb24")
        frame.pts = self.frames
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as err:
            raise self._fail(err) from err
        self.frames += 1

    def _finish(self) -> None:
        """Flush the encoder, close the file and check that it holds every frame."""
        import av

        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            with av.open(str(self._tmp)) as written:
                stream = written.streams.video[0]
                count = sum(1 for packet in written.demux(stream) if packet.size)
        except (av.FFmpegError, OSError, IndexError) as err:
            raise self._fail(err) from err
        if count != self.frames:
            raise ImageError(f"{self.path}: the encoder wrote {count} of {self.frames} frames (disk full?)")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        error: BaseException | None = None
        if exc_type is None:
            try:
                if self.frames == 0:
                    raise ImageError(f"{self.path}: no frame to write")
                self._finish()
            except ImageError as err:
                error = err
        if self._container is not None and (exc_type is not None or error is not None):
            with contextlib.suppress(Exception):            # already failing: the first error is the one to report
                self._container.close()
        if error is not None:
            self._atomic.__exit__(ImageError, error, None)      # removes the temp file
            raise error
        if exc_type is not None:
            self._atomic.__exit__(exc_type, exc, tb)            # removes the temp file; the exception goes on
            return
        try:
            self._atomic.__exit__(None, None, None)             # the temp file replaces the target
        except OSError as err:
            raise self._fail(err) from err
