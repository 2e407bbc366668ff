"""Image -> model input exactly as TF.js PoseNet 2.2.2 does it, and poses back to the image.

Steps (``docs/tfjs-posenet-algorithm.md`` sections 2, 3 and 8): letterbox to the target aspect with
symmetric zero padding rounded like JavaScript's ``Math.round``; bilinear resize with TF's legacy
mapping (``align_corners=False, half_pixel_centers=False``: ``src = dst * in / out``); normalise
``x / 127.5 - 1``. The padding is never materialised: samples that fall into it get weight zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from posenet.errors import ImageError
from posenet.pose import Pose

__all__ = ["Letterbox", "check_image", "fitted_input_size", "js_round", "letterbox", "prepare_input",
           "resize_letterboxed", "scale_poses", "to_batch", "valid_input_size"]


def valid_input_size(size: int, output_stride: int) -> int:
    """A model input side TF.js accepts: ``size`` if ``(size - 1) % stride == 0``
    else ``floor(size/stride)*stride + 1``."""
    if (size - 1) % output_stride == 0:
        return int(size)
    return (size // output_stride) * output_stride + 1


def fitted_input_size(image_hw: tuple[int, int], input_hw: tuple[int, int], output_stride: int) -> tuple[int, int]:
    """The smallest valid input (Rh, Rw) inside ``input_hw`` that holds an ``image_hw`` image at the scale its
    letterbox into ``input_hw`` gives it: the side that fills ``input_hw`` stays, the other is rounded up to
    ``k * stride + 1``. The image keeps its pixels per model-input pixel; only the padding goes (on a 4:3 photo
    in a square input, a quarter of the pixels the model runs on). A side that overshoots ``k * stride + 1`` by
    less than half a pixel is not given another row of cells: the letterbox shrinks the image by that much instead
    (so that a JPEG decoded at 1/2 or 1/8, its sides rounded up, gets the input of the full-size decode)."""
    scale = min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])

    def fit(side: int, limit: int) -> int:
        cells = max(1, math.ceil((side * scale - 1.5) / output_stride))
        return min(int(limit), cells * output_stride + 1)

    return fit(image_hw[0], input_hw[0]), fit(image_hw[1], input_hw[1])


def js_round(x: float) -> int:
    """JavaScript ``Math.round``: halves go up (``floor(x + 0.5)``), unlike Python's banker's rounding."""
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class Letterbox:
    """Where an image sits in the model input.

    padding: (top, bottom, left, right) zero padding in image pixels, before the resize.
    input_hw: model input (Rh, Rw). scale_yx: image pixels per model-input pixel, ``(h+pt+pb)/Rh, (w+pl+pr)/Rw``.
    """

    image_hw: tuple[int, int]
    input_hw: tuple[int, int]
    padding: tuple[int, int, int, int]

    @property
    def padded_hw(self) -> tuple[int, int]:
        top, bottom, left, right = self.padding
        return self.image_hw[0] + top + bottom, self.image_hw[1] + left + right

    @property
    def scale_yx(self) -> tuple[float, float]:
        hp, wp = self.padded_hw
        return hp / self.input_hw[0], wp / self.input_hw[1]


def letterbox(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> Letterbox:
    """TF.js ``padAndResizeTo`` padding: equal zero padding on both sides to reach the input aspect ratio."""
    h, w = int(image_hw[0]), int(image_hw[1])
    target_aspect = input_hw[1] / input_hw[0]
    if w / h < target_aspect:
        pad = js_round(0.5 * (target_aspect * h - w))
        padding = (0, 0, pad, pad)
    else:
        pad = js_round(0.5 * ((1.0 / target_aspect) * w - h))
        padding = (pad, pad, 0, 0)
    return Letterbox((h, w), (int(input_hw[0]), int(input_hw[1])), padding)


@functools.lru_cache(maxsize=64)
def _axis_weights(out_size: int, in_size: int, pad_before: int, image_size: int, scale: float = 1.0,
                  channels: int = 1):
    """Legacy TF bilinear sampling along one axis, in padded coordinates, mapped to the image.

    Returns (i0, i1, w0, w1): image indices (clipped) of the two source samples of every output index and
    their weights ``scale * (1 - frac)`` and ``scale * frac``, zeroed where a sample falls into the zero padding.
    With ``channels`` > 1 every index becomes ``channels`` consecutive ones (``index * channels + c``): the
    indices of an interleaved ``[.., size * channels]`` row. Cached: a video or a folder of one camera repeats the
    same geometry (the tensors are only read).
    """
    ratio = in_size / out_size
    src = np.arange(out_size, dtype=np.float64) * ratio
    lo = np.floor(src)
    frac = src - lo
    lo = lo.astype(np.int64) - pad_before
    hi = np.minimum(in_size - 1, np.ceil(src).astype(np.int64)) - pad_before
    w0 = np.where((lo >= 0) & (lo < image_size), scale * (1.0 - frac), 0.0)
    w1 = np.where((hi >= 0) & (hi < image_size), scale * frac, 0.0)
    offsets = np.arange(channels)
    i0, i1 = ((np.clip(i, 0, image_size - 1)[:, None] * channels + offsets).ravel() for i in (lo, hi))
    return (torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(np.repeat(w0, channels).astype(np.float32)),
            torch.from_numpy(np.repeat(w1, channels).astype(np.float32)))


def _blend(pixels: torch.Tensor, dim: int, i0: torch.Tensor, i1: torch.Tensor, w0: torch.Tensor,
           w1: torch.Tensor) -> torch.Tensor:
    """``pixels[i0] * w0 + pixels[i1] * w1`` along ``dim`` (0: rows, 1: columns) of a 2-D float32 tensor."""
    shape = (-1, 1) if dim == 0 else (1, -1)
    return pixels.index_select(dim, i0).mul_(w0.view(shape)).addcmul_(pixels.index_select(dim, i1), w1.view(shape))


def _resample(image: np.ndarray, box: Letterbox, scale: float) -> torch.Tensor:
    """``scale`` * the letterboxed legacy-bilinear resize of RGB uint8 [h, w, 3] -> float32 tensor [Rh, Rw, 3].

    Separable, on the image as a float32 2-D ``[h, w * 3]`` array: the columns are gathered with one index per
    (column, channel), the rows as contiguous blocks; each pass gathers the two source lines of every output line
    and blends them with one fused multiply-add, starting with the axis that leaves the smaller intermediate image.
    (A strided gather over ``[.., w, 3]`` or over uint8 costs 2-3x more.) float32 differs from TF's float64
    arithmetic by < 1e-4 grey levels.
    """
    h, w = box.image_hw
    top, _, left, _ = box.padding
    rows = _axis_weights(box.input_hw[0], box.padded_hw[0], top, h, scale)
    cols = _axis_weights(box.input_hw[1], box.padded_hw[1], left, w, 1.0, channels=3)
    pixels = torch.from_numpy(image.reshape(h, w * 3).astype(np.float32))  # a fresh array (read-only input is fine)
    if h * box.input_hw[1] < box.input_hw[0] * w:
        resized = _blend(_blend(pixels, 1, *cols), 0, *rows)
    else:
        resized = _blend(_blend(pixels, 0, *rows), 1, *cols)
    return resized.view(box.input_hw[0], box.input_hw[1], 3)


def _resample_opencv(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """The letterboxed resize of :func:`_resample` by OpenCV on the 8-bit image (bilinear in fixed point, 1/32 px
    sampling positions), normalised to ``x / 127.5 - 1`` -> float32 [Rh, Rw, 3], a view of a channels-first array
    (:func:`to_batch` of one image then needs no copy).

    The same samples as TF's legacy mapping (``src = dst * in / out`` over the zero-padded image, the last row and
    column clamped): the zero padding is made first, and the resize's border replicates its edge.
    """
    top, bottom, left, right = box.padding
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0) if any(
        box.padding) else image
    (rh, rw), (ph, pw) = box.input_hw, box.padded_hw
    resized = cv2.warpAffine(padded, np.array([[pw / rw, 0.0, 0.0], [0.0, ph / rh, 0.0]]), (rw, rh),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    planes = np.empty((3, rh, rw), np.float32)
    np.multiply(resized.transpose(2, 0, 1), np.float32(1.0 / 127.5), out=planes, casting="unsafe")
    planes -= 1.0
    return planes.transpose(1, 2, 0)


def resize_letterboxed(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """Letterbox + TF legacy bilinear resize of an RGB uint8 [h, w, 3] image -> float32 [Rh, Rw, 3] in 0..255."""
    return _resample(image, box, 1.0).numpy()


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB uint8 [h, w, 3] image (ImageError otherwise)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"expected an RGB image [h, w, 3], got an array of shape {image.shape}")
    if image.dtype != np.uint8:
        raise ImageError(f"expected an RGB uint8 image, got dtype {image.dtype}")
    return image


def prepare_input(image: np.ndarray, input_hw: tuple[int, int], opencv: bool = False) -> tuple[np.ndarray, Letterbox]:
    """RGB uint8 [h, w, 3] -> (normalised float32 [Rh, Rw, 3] in [-1, 1], Letterbox). ``input_hw`` must be valid.

    The resize is TF.js's, in float (the parity path), or with ``opencv`` OpenCV's on the 8-bit image at the same
    sampling positions: about twice as fast, within half a grey level on average (one at most when shrinking).
    """
    image = check_image(image)
    box = letterbox(image.shape[:2], input_hw)
    if opencv:
        return _resample_opencv(image, box), box
    # x / 127.5 - 1 folded into the row weights: one pass fewer over the image.
    return _resample(image, box, 1.0 / 127.5).sub_(1.0).numpy(), box


def to_batch(inputs: Sequence[np.ndarray], device: str | torch.device = "cpu") -> torch.Tensor:
    """Model inputs float32 [Rh, Rw, 3] (all one size, from :func:`prepare_input`) -> NCHW [N, 3, Rh, Rw]
    on ``device`` (contiguous: one copy, none for a single input already laid out channels first)."""
    planes = [torch.from_numpy(x).permute(2, 0, 1) for x in inputs]
    batch = planes[0][None].contiguous() if len(planes) == 1 else torch.stack(planes)
    return batch.to(device)


def scale_poses(poses: list[Pose], box: Letterbox) -> list[Pose]:
    """Model-input pixel poses -> ORIGINAL image pixels: ``y * scale_y - pad_top``, ``x * scale_x - pad_left``."""
    top, _, left, _ = box.padding
    return [p.scaled(box.scale_yx, (top, left)) for p in poses]
