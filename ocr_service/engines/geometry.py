"""Geometric and tonal preprocessing: deskew (projection profile), rotate, upscale, contrast."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.binarize import binarize, flatten

MAX_SKEW_DEGREES = 15.0
_SKEW_WORK_LONG_SIDE = 900


def _profile_score(ink: NDArray[Any], angle: float) -> float:
    h, w = ink.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rotated = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    rows = cv2.reduce(rotated, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F)
    return float(np.var(np.asarray(rows, dtype=np.float32)))


def estimate_skew(image: NDArray[Any], max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """Skew of the text lines in degrees (counter-clockwise positive), within ±`max_degrees`.

    Projection-profile search: the angle whose rotation makes the row sums of the ink mask most
    peaked. Coarse 1° grid, then 0.1° refinement. Returns 0.0 for a page without ink.
    """
    ink = cv2.bitwise_not(binarize(image))
    h, w = ink.shape
    scale = min(1.0, _SKEW_WORK_LONG_SIDE / max(h, w))
    if scale < 1.0:
        ink = cv2.resize(
            ink, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    if not cv2.countNonZero(ink):
        return 0.0
    coarse = np.arange(-max_degrees, max_degrees + 0.001, 1.0)
    best = max(coarse, key=lambda a: _profile_score(ink, float(a)))
    fine = np.arange(best - 1.0, best + 1.001, 0.1)
    fine = fine[np.abs(fine) <= max_degrees + 1e-9]
    correction = float(max(fine, key=lambda a: _profile_score(ink, float(a))))
    return round(-correction, 2) + 0.0


def rotate(image: NDArray[Any], degrees: float) -> NDArray[Any]:
    """Rotate counter-clockwise by `degrees`, growing the canvas so nothing is cut; new area is white.

    Multiples of 90° are exact (no resampling).
    """
    quarter = round(degrees / 90.0)
    if math.isclose(degrees, quarter * 90.0, abs_tol=1e-9):
        turns = quarter % 4
        codes = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}
        return image if turns == 0 else cv2.rotate(image, codes[turns])
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    white = (255,) * (1 if image.ndim == 2 else image.shape[2])
    return cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_CUBIC, borderValue=white)


def deskew(image: NDArray[Any]) -> tuple[NDArray[Any], float]:
    """Straighten text lines (up to ±15°): returns the rotated image and the correction applied."""
    angle = estimate_skew(image)
    if abs(angle) < 0.05:
        return image, 0.0
    return rotate(image, -angle), -angle


def upscale(image: NDArray[Any], *, factor: float = 2.0, max_pixels: int) -> NDArray[Any]:
    """Lanczos upscale by `factor`, reduced so the output has at most `max_pixels` pixels.

    Never shrinks: if even 1x would exceed `max_pixels` the image is returned unchanged.
    """
    h, w = image.shape[:2]
    allowed = math.sqrt(max_pixels / max(1, h * w))
    scale = min(factor, allowed)
    if scale <= 1.0:
        return image
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4)


def correct_contrast(image: NDArray[Any]) -> NDArray[Any]:
    """Contrast correction (`makeContrastCorrection`): illumination flattened, range stretched.

    The page is divided by its paper background (light-on-dark blocks inverted first) and its darkest
    ink mapped to black: see `binarize.flatten`. Returns a gray image of the same size. Measured
    against the CLAHE used before in `bench.binarization_real.run_contrast`.
    """
    return flatten(image)
