"""Pages that are nothing but flat paper and ink with soft edges: black-and-white scans, renders.

A bilevel page blurred by a scanner's optics (or a clean render with anti-aliased edges) carries grey
levels only in a thin halo around its marks. For such a page the full binarizer's statistics have
nothing to estimate (no illumination, no texture, no noise), and its windows, sized for real
documents, eat into the thin strokes the blur has lightened. Here each pixel is compared with the
darkest pixel of its own 5x5 neighbourhood instead: a pixel is ink when its darkness is at least a
fraction of that local peak (half on sharp edges, more on blurred ones: `peak_fraction`) and a
quarter of the page's contrast, so a one-pixel stroke the blur lightened to half contrast stays ink
while the halo around a solid stroke does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.threshold import hist_quantile, histogram, sample_rows

if TYPE_CHECKING:
    from ocr_service.engines.binarize import BinarizeParams

Image = NDArray[Any]


def _square(radius: int) -> Image:
    return np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)


def sharpness(below: Image, peak: Image, contrast: int) -> float:
    """Median, over edge pixels (a 3x3 jump of 40 % of the contrast), of the jump over the 5x5 peak.

    About 1 for a clean render, 0.8 for a scan blurred by sigma 0.7 px, 0.65 at 1.2 px or for text
    upsampled from half its resolution.
    """
    jump = cv2.morphologyEx(below, cv2.MORPH_GRADIENT, _square(1))
    edges = cv2.threshold(jump, 0.4 * contrast, 255, cv2.THRESH_BINARY)[1]
    ratio = cv2.divide(jump, peak, scale=255.0)
    hist = histogram(sample_rows(ratio), sample_rows(edges))
    return min(1.0, hist_quantile(hist, 0.5) / 255.0) if hist.sum() > 0 else 1.0


def peak_fraction(edge_sharpness: float, params: BinarizeParams) -> float:
    """The share of the local peak a pixel needs to be ink: half on sharp edges, more on blurred ones.

    On a sharp edge a pixel's darkness is its ink coverage and half the peak is the coverage
    midpoint; blur lowers thin strokes' peaks towards their halo, so the cut rises by
    `flat_blur_gain` x (1 - sharpness), up to `flat_max_peak_fraction`.
    """
    fraction = params.flat_peak_fraction + params.flat_blur_gain * (1.0 - edge_sharpness)
    return min(fraction, params.flat_max_peak_fraction)


def flat_paper_binarize(gray: Image, params: BinarizeParams) -> Image | None:
    """(H, W) uint8 (ink 0, paper 255) for a flat-paper page, or None when `gray` is not one.

    Flat paper: the most frequent level (the paper) is in the light half, at least
    `min_contrast` above the darkest 0.5 %, and holds `flat_paper_share` of the pixels within
    `flat_tolerance` of the contrast; every pixel off that level lies within `flat_halo_px` of a
    mark (darker than paper by a quarter of the contrast), but for `flat_max_stray` of the page;
    no mark is thicker than 2 x `flat_max_half_stroke_px` (a dark block or a thick stroke is
    left to the full binarizer); and the edges are at least `flat_min_sharpness` sharp (softer
    pages, blurred or upsampled from a low resolution, read better after the full binarizer: the
    local-peak cut thins their strokes). Shadows, stains, texture, noise and bleed-through all put
    off-paper levels far from any mark and fail.
    """
    hist = histogram(sample_rows(gray))
    total = hist.sum()
    paper = int(np.argmax(hist))
    darkest = int(np.searchsorted(np.cumsum(hist), 0.005 * total))
    contrast = paper - darkest
    if paper < 128 or contrast < 255 * params.min_contrast:
        return None
    tol = max(params.bilevel_tolerance, round(params.flat_tolerance * contrast))
    if hist[max(0, paper - tol) : paper + tol + 1].sum() < params.flat_paper_share * total:
        return None
    level = np.full_like(gray, paper)
    below = cv2.subtract(level, gray)  # darkness below the paper, in grey levels
    marks = cv2.threshold(below, contrast / 4, 255, cv2.THRESH_BINARY)[1]
    off = cv2.threshold(cv2.absdiff(gray, level), tol, 255, cv2.THRESH_BINARY)[1]
    stray = cv2.subtract(off, cv2.dilate(marks, _square(params.flat_halo_px)))
    if cv2.countNonZero(stray) > params.flat_max_stray * gray.size:
        return None
    if cv2.countNonZero(cv2.erode(marks, _square(params.flat_max_half_stroke_px))):
        return None
    peak = cv2.dilate(below, _square(2))
    edge_sharpness = sharpness(below, peak, contrast)
    if edge_sharpness < params.flat_min_sharpness:
        return None
    fraction = peak_fraction(edge_sharpness, params)
    ink = cv2.compare(below, cv2.convertScaleAbs(peak, alpha=fraction), cv2.CMP_GE)
    out: Image = cv2.bitwise_not(cv2.bitwise_and(ink, marks))
    return out
