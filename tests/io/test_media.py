"""posenet.io.media: image decoding with clear errors, EXIF, video round trip, input expansion."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from posenet.errors import ImageError
from posenet.io.media import (
    VideoReader,
    VideoWriter,
    decode_image_bytes,
    expand_inputs,
    read_image,
    read_image_reduced,
    write_image,
)

DATA = Path(__file__).parents[1] / "data" / "images"
POSE_JPG = DATA / "pose.jpg"


def test_read_image_matches_opencv_pixels():
    image = read_image(POSE_JPG)
    assert image.dtype == np.uint8 and image.shape == (667, 1000, 3)
    expected = cv2.cvtColor(cv2.imread(str(POSE_JPG)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, expected)


def test_exif_orientation_is_applied(tmp_path):
    pixels = read_image(DATA / "backpackman.jpg")[:, :400]          # 513 x 400, not square
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6                                                  # rotate 90 CW to display
    Image.fromarray(pixels).save(buf, format="JPEG", exif=exif, quality=95)
    shown = decode_image_bytes(buf.getvalue())
    assert shown.shape == (400, 513, 3)
    raw = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(shown, np.rot90(raw, k=-1))


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(read_image(POSE_JPG)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("this is not a picture\n"), "not an image"),
    (lambda p: p.write_bytes(POSE_JPG.read_bytes()[:20000]), "truncated"),
    (lambda p: p.write_bytes(_png_bytes()[:-200]), "corrupt or truncated"),
])
def test_bad_images_raise_one_line_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(ImageError) as info:
        read_image(path)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_decode_leaves_pils_truncated_images_setting_alone(monkeypatch):
    from PIL import ImageFile

    from posenet.io.media import decode_image_bytes

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)   # an application's own choice
    decode_image_bytes(POSE_JPG.read_bytes())
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_decode_image_bytes_png_with_alpha():
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    out = decode_image_bytes(buf.getvalue())
    assert out.shape == (5, 7, 3) and out[0, 0].tolist() == [200, 0, 0]


def test_write_image_round_trip_png(tmp_path):
    image = read_image(DATA / "backpackman.jpg")
    write_image(tmp_path / "out.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), image)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_expand_inputs_files_folders_globs(tmp_path):
    (tmp_path / "b.jpg").write_bytes(b"x")
    (tmp_path / "a.PNG").write_bytes(b"x")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.jpg").write_bytes(b"x")
    got = expand_inputs([tmp_path, str(sub / "*.jpg"), tmp_path / "b.jpg", str(tmp_path / "zz*.jpg"), "missing.jpg"])
    assert got == [tmp_path / "a.PNG", tmp_path / "b.jpg", tmp_path / "clip.mp4", sub / "c.jpg",
                   tmp_path / "zz*.jpg", Path("missing.jpg")]


def test_video_round_trip_keeps_frames_and_size(tmp_path):
    frames = [read_image(DATA / name)[:512, :512] for name in ("backpackman.jpg", "multi_skiing.jpg", "pose.jpg")]
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=5) as writer:
        for frame in frames:
            writer.write(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    with VideoReader(path) as reader:
        assert reader.info.fps == pytest.approx(5.0) and reader.info.frame_count == 3
        got = list(reader)
    assert len(got) == 3
    for a, b in zip(got, frames):
        assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() < 8     # lossy codec, same picture


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "h264"), (".webm", "vp9")])
def test_videos_are_written_in_a_browser_codec(tmp_path, suffix, codec):
    """H.264 (4:2:0, what every browser decodes) in MP4, VP9 in WebM, read back from the file; odd sides padded."""
    import av

    frame = read_image(DATA / "pose.jpg")[:241, :321]                      # odd width and height
    path = tmp_path / f"clip{suffix}"
    with VideoWriter(path, fps=12.5) as writer:
        for shift in range(4):
            writer.write(np.roll(frame, 8 * shift, axis=1))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == (codec, "yuv420p")
        assert (stream.codec_context.width, stream.codec_context.height) == (322, 242)
        assert float(stream.average_rate) == pytest.approx(12.5) and stream.frames in (0, 4)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 4 and np.abs(decoded[0][:241, :321].astype(int) - frame).mean() < 8
    with pytest.raises(ImageError, match="clip.avi: cannot write a .avi video"):
        VideoWriter(tmp_path / "clip.avi", fps=5)


def test_video_writer_leaves_no_file_on_error(tmp_path):
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, fps=5) as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# A disk that fills up: the file-size limit makes every write past LIMIT bytes fail with EFBIG (SIGXFSZ ignored),
# in the C encoder as in Python, as ENOSPC would.
FULL_DISK = """
import resource, signal, sys
import numpy as np
from posenet.errors import ImageError
from posenet.io.media import VideoWriter

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
rng = np.random.default_rng(0)
try:
    with VideoWriter(sys.argv[1], fps=10) as writer:
        for _ in range(20):
            writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
except ImageError as err:
    print(err)
    sys.exit(2)
"""


@pytest.mark.parametrize("limit", [1, 20_000])
def test_a_full_disk_leaves_no_video_behind(tmp_path, limit):
    """Issue 20: the write fails part way (or at once), the error names the user's path, no file remains."""
    import subprocess
    import sys

    path = tmp_path / "clip_pose.mp4"
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), str(limit)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(path) in done.stdout and ".tmp" not in done.stdout and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreadable_videos_raise(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        VideoReader(tmp_path / "none.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        VideoReader(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"definitely not a video" * 100)
    with pytest.raises(ImageError, match="junk.mp4"):
        with VideoReader(junk) as reader:
            list(reader)


# --- bit depths and modes: every one comes out as the right 8-bit RGB, or is refused in one line -------------

def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _grey_photo() -> np.ndarray:
    return cv2.cvtColor(read_image(POSE_JPG), cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_is_the_8_bit_photo_not_white(fmt):
    grey = _grey_photo()
    low_byte = np.random.default_rng(0).integers(0, 256, grey.shape)
    wide = Image.fromarray((grey.astype(np.uint16) << 8 | low_byte).astype(np.uint16))   # Pillow mode I;16
    out = decode_image_bytes(_encoded(wide, fmt))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))
    if fmt == "PNG":                                                     # OpenCV reads 16-bit files the same way
        reference = cv2.imdecode(np.frombuffer(_encoded(wide, fmt), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(out, cv2.cvtColor(reference, cv2.COLOR_BGR2RGB))


def test_16_bit_rgb_png_matches_opencv():
    rgb = read_image(POSE_JPG)[:200, :300].astype(np.uint16) * 257 + 100
    ok, data = cv2.imencode(".png", rgb[:, :, ::-1])
    reference = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    out = decode_image_bytes(data.tobytes())
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(out, (rgb >> 8).astype(np.uint8))


def test_palette_grey_alpha_and_cmyk_match_opencv():
    photo = Image.fromarray(read_image(POSE_JPG)[:200, :300])
    cases = {"palette": _encoded(photo.quantize(64), "PNG"),
             "grey + alpha": _encoded(photo.convert("LA"), "PNG"),
             "CMYK JPEG": _encoded(photo.convert("CMYK"), "JPEG", quality=95)}
    for what, data in cases.items():
        reference = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out = decode_image_bytes(data)
        assert out.shape == reference.shape, what
        assert np.abs(out.astype(int) - reference).max() <= 1, what     # CMYK -> RGB rounds differently by 1


def test_float_tiff_in_unit_range_is_scaled_and_other_ranges_are_refused():
    grey = _grey_photo()[:100, :100]
    unit = Image.fromarray(grey.astype(np.float32) / 255.0)              # Pillow mode F
    out = decode_image_bytes(_encoded(unit, "TIFF"))
    np.testing.assert_array_equal(out[:, :, 0], grey)
    for values, message in [(grey.astype(np.float32), r"float pixels must lie in \[0, 1\], found \d+..\d+"),
                            (np.full((4, 4), np.nan, np.float32), "float pixels must lie in")]:
        with pytest.raises(ImageError, match=message) as info:
            decode_image_bytes(_encoded(Image.fromarray(values), "TIFF"), "f.tif")
        assert str(info.value).startswith("f.tif: ") and "\n" not in str(info.value)


def test_unsupported_modes_and_wide_integers_are_refused_in_one_line():
    with pytest.raises(ImageError, match=r"^lab.tif: unsupported pixel format LAB"):
        decode_image_bytes(_encoded(Image.new("LAB", (4, 4)), "TIFF"), "lab.tif")
    with pytest.raises(ImageError, match=r"^i32.tif: 32-bit pixels outside 0..65535 \(70000..70000\)"):
        decode_image_bytes(_encoded(Image.fromarray(np.full((4, 4), 70000, np.int32)), "TIFF"), "i32.tif")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width`` x ``height`` 8-bit grey pixels, then IEND (no pixel data)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused_by_every_reader(tmp_path):
    from posenet.data.imagemeta import displayed_size, probe_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(30000, 30000))
    for read in (read_image, displayed_size):                           # infer and the dataset readers
        with pytest.raises(ImageError, match=r"bomb.png: image too large to decode safely$"):
            read(bomb)
    assert probe_image(bomb) is None                                    # a dataset item: skipped with a warning


def _block_mismatch(full: np.ndarray, reduced: np.ndarray, factor: int, offset_yx: tuple[int, int]) -> float:
    """Mean |reduced pixel - mean of the full-image block it stands for| over interior pixels, grey levels."""
    (oy, ox), full = offset_yx, full.astype(np.float64)
    diffs = [np.abs(full[factor * i + oy:factor * (i + 1) + oy, factor * j + ox:factor * (j + 1) + ox].mean((0, 1))
                    - reduced[i, j]).mean()
             for i in range(1, reduced.shape[0] - 1, 3) for j in range(1, reduced.shape[1] - 1, 3)]
    return float(np.mean(diffs))


@pytest.mark.parametrize("fit, factor", [((257, 257), 2), ((129, 129), 4), ((65, 65), 8), ((513, 513), 1),
                                         ((1025, 1025), 1)])
def test_reduced_jpeg_decode_is_the_block_mean_of_the_full_decode(fit, factor):
    """pose.jpg is 1000 x 667: the DCT scale is the smallest that keeps the pixels the letterboxed input uses (at
    513 the image keeps 513 x 343 pixels, more than its half)."""
    full = read_image(POSE_JPG)
    reduced = read_image_reduced(POSE_JPG, fit)
    assert reduced.factor == factor and reduced.offset_yx == (0, 0)
    assert reduced.pixels.shape == (-(-667 // factor), -(-1000 // factor), 3)
    keep = min(fit[0] / 667, fit[1] / 1000)
    assert min(reduced.pixels.shape[0] / 667, reduced.pixels.shape[1] / 1000) >= min(keep, 1.0)
    if factor == 1:
        np.testing.assert_array_equal(reduced.pixels, full)
    else:
        assert _block_mismatch(full, reduced.pixels, factor, (0, 0)) < 1.0
        assert reduced.to_full() == ((factor, factor), (-(factor - 1) / 2,) * 2)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_reduced_decode_maps_back_under_every_exif_orientation(tmp_path, orientation):
    """A size the factor does not divide (637 x 421): where the orientation flips an axis, the partial block comes
    first and the offset says so; any other offset would mismatch the full decode."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.open(POSE_JPG).crop((0, 0, 637, 421)).save(path, exif=exif, quality=95)
    full = read_image(path)
    reduced = read_image_reduced(path, (129, 129))  # keeps 129 x 86 of 637 x 421: 1/4
    assert reduced.factor == 4 and reduced.pixels.shape[:2] == (-(-full.shape[0] // 4), -(-full.shape[1] // 4))
    assert _block_mismatch(full, reduced.pixels, 4, reduced.offset_yx) < 1.0
    flipped = {2: (0, -3), 3: (-3, -3), 4: (-3, 0), 6: (0, -3), 7: (-3, -3), 8: (-3, 0)}
    assert reduced.offset_yx == flipped.get(orientation, (0, 0))
    if reduced.offset_yx != (0, 0):
        assert _block_mismatch(full, reduced.pixels, 4, (0, 0)) > 2.0


def test_reduced_decode_of_other_formats_is_the_full_decode(tmp_path):
    path = tmp_path / "pose.png"
    write_image(path, read_image(POSE_JPG))
    reduced = read_image_reduced(path, (129, 129))
    assert reduced.factor == 1 and reduced.offset_yx == (0, 0)
    np.testing.assert_array_equal(reduced.pixels, read_image(path))
    for bad, message in ((tmp_path / "missing.jpg", "no such file"), (tmp_path, "is a folder")):
        with pytest.raises(ImageError, match=message):
            read_image_reduced(bad, (129, 129))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_opencv_jpeg_decode_equals_pillows_under_every_orientation_and_scale(tmp_path, orientation, monkeypatch):
    """Complete JPEGs are decoded by OpenCV: the pixels (whole and at each DCT scale, turned to the EXIF
    orientation) are Pillow's exactly, grey JPEGs included."""
    from posenet.io import media

    exif = Image.Exif()
    exif[0x0112] = orientation
    colour, grey = tmp_path / "colour.jpg", tmp_path / "grey.jpg"
    Image.open(POSE_JPG).crop((0, 0, 637, 421)).save(colour, exif=exif, quality=95)
    Image.open(POSE_JPG).convert("L").crop((0, 0, 637, 421)).save(grey, exif=exif, quality=95)
    fits = (None, (257, 257), (129, 129), (65, 65))
    decoded = {(p, fit): read_image(p) if fit is None else read_image_reduced(p, fit)
               for p in (colour, grey) for fit in fits}
    calls = []
    monkeypatch.setattr(media, "_decode_jpeg", lambda *args: calls.append(args) and None)  # Pillow only
    for (path, fit), got in decoded.items():
        want = read_image(path) if fit is None else read_image_reduced(path, fit)
        if fit is None:
            np.testing.assert_array_equal(got, want)
        else:
            assert got.factor == want.factor and got.offset_yx == want.offset_yx
            np.testing.assert_array_equal(got.pixels, want.pixels)
    assert len(calls) == len(decoded)  # every one of them had gone through OpenCV
    assert {(p, f): d.factor for (p, f), d in decoded.items() if f is not None and p == colour} == {
        (colour, (257, 257)): 2, (colour, (129, 129)): 4, (colour, (65, 65)): 8}
