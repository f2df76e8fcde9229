"""Document binarization: background normalisation, inverted-region repair, then a global threshold.

Method (chosen by measurement, see the README's binarization table):

1. grayscale (luma), 3x3 median against speckle;
2. on a small working copy (long side ~640 px): find inverted (light-on-dark) regions as blocks whose
   local mean lies closer to the local minimum than to the local maximum, and invert them so that all
   text is dark on light;
3. estimate the paper background with a max filter wider than any stroke, then smooth it; divide the
   image by it (removes uneven light, shadows, stains, coloured paper);
4. threshold the normalised image with Otsu, clamped to a band so that blank pages and pages with
   faint ink stay sensible.

All arithmetic is done by OpenCV calls on uint8/float32 buffers; there are no per-pixel Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class BinarizeParams:
    """Tunables of `binarize` (defaults are the measured best on the bench corpus)."""

    work_long_side: int = 640
    background_kernel: int = 7
    invert_kernel: int = 15
    invert_min_contrast: int = 40
    threshold_min: int = 100
    threshold_max: int = 235
    min_contrast: int = 40
    ink_percentile: float = 10.0
    denoise: bool = False


DEFAULT_PARAMS = BinarizeParams()


def to_gray(image: NDArray[Any]) -> NDArray[Any]:
    """Luma of an RGB (H, W, 3), RGBA (H, W, 4) or gray (H, W) uint8 image, as (H, W) uint8."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"unsupported image shape {image.shape}")


def _odd(n: int) -> int:
    return max(3, n | 1)


def inverted_mask(small: NDArray[Any], params: BinarizeParams) -> NDArray[Any]:
    """uint8 mask (255 = inverted region) on the small working image."""
    kernel = cv2.getStructuringElement(
        cv2.MORPH_RECT, (_odd(params.invert_kernel), _odd(params.invert_kernel))
    )
    local_max = cv2.dilate(small, kernel)
    local_min = cv2.erode(small, kernel)
    local_mean = cv2.blur(small, (_odd(params.invert_kernel), _odd(params.invert_kernel)))
    above = cv2.subtract(local_max, local_mean)
    below = cv2.subtract(local_mean, local_min)
    contrast = cv2.subtract(local_max, local_min)
    inverted = cv2.compare(above, below, cv2.CMP_GT)
    _, strong = cv2.threshold(contrast, params.invert_min_contrast - 1, 255, cv2.THRESH_BINARY)
    mask = cv2.bitwise_and(inverted, strong)
    mask = cv2.medianBlur(mask, 5)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)


def binarize(image: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> NDArray[Any]:
    """Binarize a page image: returns (H, W) uint8 with ink 0 and paper 255, same size as the input.

    Text in light-on-dark regions comes out dark on white like the rest. Raises ValueError on an
    empty image or an unsupported shape.
    """
    if image.size == 0:
        raise ValueError("empty image")
    gray = to_gray(image)
    if params.denoise:
        gray = cv2.medianBlur(gray, 3)
    h, w = gray.shape
    scale = min(1.0, params.work_long_side / max(h, w))
    small_size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)

    inv_small = inverted_mask(small, params)
    if cv2.countNonZero(inv_small):
        inv = cv2.resize(inv_small, (w, h), interpolation=cv2.INTER_NEAREST)
        gray = gray.copy()
        cv2.bitwise_not(gray, dst=gray, mask=inv)
        small = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)

    kernel = cv2.getStructuringElement(
        cv2.MORPH_RECT, (_odd(params.background_kernel), _odd(params.background_kernel))
    )
    background = cv2.dilate(small, kernel)
    background = cv2.medianBlur(background, _odd(params.background_kernel))
    background = cv2.blur(background, (_odd(params.background_kernel), _odd(params.background_kernel)))
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    background = cv2.max(background, np.ones_like(background))
    normalised = cv2.divide(gray, background, scale=255)

    sample = cv2.resize(normalised, small_size, interpolation=cv2.INTER_NEAREST)
    threshold = ink_threshold(sample, params)
    _, out = cv2.threshold(normalised, threshold, 255, cv2.THRESH_BINARY)
    return out


def ink_threshold(sample: NDArray[Any], params: BinarizeParams) -> float:
    """Threshold halfway between the ink and paper levels of a normalised sample (Otsu split).

    Halfway matches the 50 % coverage definition of ink; when ink and paper differ by less than
    `min_contrast`, the page is treated as blank (threshold 0, all paper).
    """
    _, dark = cv2.threshold(sample, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if not cv2.countNonZero(dark) or cv2.countNonZero(dark) == dark.size:
        return 0.0
    ink_level = float(np.percentile(sample[dark > 0], params.ink_percentile))
    paper_level = float(np.median(sample[dark == 0]))
    if paper_level - ink_level < params.min_contrast:
        return 0.0
    return float(np.clip((ink_level + paper_level) / 2, params.threshold_min, params.threshold_max))
