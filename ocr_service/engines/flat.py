"""Pages that are nothing but flat paper and ink with soft edges: black-and-white scans, renders.

A bilevel page blurred by a scanner's optics (or a clean render with anti-aliased edges) carries grey
levels only in a thin halo around its marks. For such a page the full binarizer's statistics have
nothing to estimate (no illumination, no texture, no noise), and its windows, sized for real
documents, eat into the thin strokes the blur has lightened. Two cuts, by the edges' sharpness:

* sharp edges (a render, `flat_min_sharpness` and up): each pixel is compared with the darkest
  pixel of its own 5x5 neighbourhood: ink when its darkness is at least half that local peak and a
  quarter of the page's contrast, so a one-pixel stroke the edge lightened stays ink while the halo
  around a solid stroke does not;
* soft edges (a scan's optics, focus blur: strokes spread until close ones touch, "rn" reads "m"):
  the darkness is deconvolved (Richardson-Lucy, the blur's sigma read from the sharpness by a
  calibration on rendered text) and cut at `deblur_cut` of the restored ink darkness, the level
  the restored page has on the strokes' true edges; a blurred black-and-white scan comes back as
  its original. A page whose grey levels show it was
  interpolated up from a lower resolution has lost that detail and goes to the full binarizer
  (`_deblurred_cut`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.threshold import hist_quantile, histogram, page_histogram, sample_rows
from ocr_service.engines.tiles import run_rows

if TYPE_CHECKING:
    from ocr_service.engines.binarize import BinarizeParams

Image = NDArray[Any]
DEBLUR_MARGIN_SIGMAS = 24.0
"""Rows of overlap between the deconvolution's bands, in sigmas of the blur."""


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


def flat_paper_binarize(
    gray: Image, params: BinarizeParams, hist: NDArray[np.float64] | None = None
) -> Image | None:
    """(H, W) uint8 (ink 0, paper 255) for a flat-paper page, or None when `gray` is not one.

    Flat paper: the most frequent level (the paper) is in the light half, at least
    `min_contrast` above the darkest 0.5 %, and holds `flat_paper_share` of the pixels within
    `flat_tolerance` of the contrast; every pixel off that level lies within `flat_halo_px` of a
    mark (darker than paper by a quarter of the contrast), but for `flat_max_stray` of the page;
    no mark is thicker than 2 x `flat_max_half_stroke_px` (a dark block or a thick stroke is
    left to the full binarizer). Shadows, stains, texture, noise and bleed-through all put
    off-paper levels far from any mark and fail. Edges softer than `flat_min_sharpness` are not
    cut against the local peak (which thins blurred strokes) but handled by `_deblurred_cut`.
    `hist`: `threshold.page_histogram(gray)`, when at hand.
    """
    hist = page_histogram(gray) if hist is None else hist
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
        return _deblurred_cut(gray, below, contrast, edge_sharpness, params)
    fraction = peak_fraction(edge_sharpness, params)
    ink = cv2.compare(below, cv2.convertScaleAbs(peak, alpha=fraction), cv2.CMP_GE)
    out: Image = cv2.bitwise_not(cv2.bitwise_and(ink, marks))
    return out


def _deblurred_cut(
    gray: Image, below: Image, contrast: int, edge_sharpness: float, params: BinarizeParams
) -> Image | None:
    """A soft flat-paper page cut after deblurring, or None when it should go to the full binarizer.

    Soft edges have two causes that want opposite treatment. Optical or focus blur at full
    resolution keeps the strokes' shapes, only spread: deconvolved (`deblur`, with the blur's
    sigma read from the edge sharpness) and cut where the restored darkness crosses the strokes'
    true edges (their coverage midpoint), strokes get back their width and close strokes their gap.
    Twenty iterations leave some blur, which lowers the restored edge below half the ink level:
    `deblur_cut` (0.43) is its median on rendered text (`bench.deblur_cut`). A page upsampled from
    a lower resolution (`upsampled`) has lost that detail: sharpening only restores its jagged
    grid, and the full binarizer's bolder strokes read better. Edges softer than
    `deblur_min_sharpness` (a blur of several pixels) are left to the full binarizer too.
    """
    if params.deblur_iterations <= 0 or edge_sharpness < params.deblur_min_sharpness:
        return None
    if upsampled(gray, params):
        return None
    sharp = deblur(below, blur_sigma(edge_sharpness), params.deblur_iterations)
    restored = max(float(contrast), hist_quantile(histogram(sample_rows(sharp)), 0.995))
    ink = cv2.threshold(sharp, params.deblur_cut * restored, 255, cv2.THRESH_BINARY)[1]
    out: Image = cv2.bitwise_not(ink)
    return out


_CALIBRATION = (
    (0.533, 0.559, 0.584, 0.612, 0.651, 0.700, 0.724, 0.755, 0.792, 0.837, 0.896, 0.961),
    (2.0, 1.8, 1.6, 1.4, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4),
)
"""(`sharpness`, Gaussian sigma in px): the median sharpness of text pages blurred by that sigma
(sans, serif and mono at 14-40 px, anti-aliased and black-and-white renders on flat paper; the
spread between them is about +-0.03)."""


def blur_sigma(edge_sharpness: float) -> float:
    """Gaussian blur (px) of a text page whose edges measure this `sharpness` (`_CALIBRATION`).

    A step edge alone would give sigma = 1 / (sqrt(2) erfinv(sharpness)), but text is made of
    strokes a few pixels wide: blur lowers a thin stroke's peak along with its edge, so the ratio
    falls more slowly than for a step (at sigma 1.6 the step formula reads 1.23), while
    anti-aliasing adds softness of its own at small sigma. The table, measured on rendered text
    blurred by known amounts, is interpolated linearly (clamped at its ends).
    """
    return float(np.interp(edge_sharpness, _CALIBRATION[0], _CALIBRATION[1]))


def deblur(below: Image, sigma: float, iterations: int) -> Image:
    """Darkness `below` the paper deconvolved from a Gaussian blur of `sigma` (uint8).

    Richardson-Lucy iterations, D <- D * G * (observed / (G * D)) with G the Gaussian: they keep
    the darkness non-negative and its sum (the ink) unchanged, narrow a blurred stroke back to its
    width and deepen the light gap between two close strokes that blur had filled ("rn" read as
    "m"). A unit offset keeps the ratio defined on the paper. Run in overlapping row bands on the
    thread pool (`tiles.run_rows`); a band's margin is `DEBLUR_MARGIN_SIGMAS` sigmas, far beyond
    the reach of the iterations' correction.
    """
    out = np.empty(below.shape, np.uint8)
    margin = max(16, math.ceil(DEBLUR_MARGIN_SIGMAS * sigma))
    run_rows(
        below.shape[0],
        out,
        margin,
        lambda rows, _: _richardson_lucy(below[rows], sigma, iterations),
        min_band=4 * margin,
    )
    return out


def _richardson_lucy(below: Image, sigma: float, iterations: int) -> Image:
    observed = below.astype(np.float32) + 1.0
    estimate: Image = observed.copy()
    for _ in range(iterations):
        ratio = cv2.divide(observed, np.maximum(cv2.GaussianBlur(estimate, (0, 0), sigma), 1e-3))
        estimate = cv2.multiply(estimate, cv2.GaussianBlur(ratio, (0, 0), sigma))
    out: Image = cv2.convertScaleAbs(estimate, beta=-1.0)
    return out


def upsampled(gray: Image, params: BinarizeParams) -> bool:
    """Whether `gray` was interpolated up from a lower resolution (a periodic second difference).

    Linear interpolation from a grid `p` px apart leaves the second difference along a row
    nearly zero between the grid's nodes and large on them: averaged down the page, it repeats
    every `p` px, a sharp line in its spectrum (resampling detection, after Popescu and Farid,
    and Kirchner). Blur and text leave a smooth spectrum there. Periods of 2 to 3.3 px
    (upsampling by 2x to 3.3x) are looked for; the line must stand `upsampled_peak` times above
    the median of that band.
    """
    if gray.shape[1] < 64:
        return False
    f = sample_rows(gray).astype(np.float32)
    d2 = np.abs(f[:, 2:] - 2.0 * f[:, 1:-1] + f[:, :-2]).mean(axis=0)
    d2 -= d2.mean()
    spectrum = np.abs(np.fft.rfft(d2 * np.hanning(d2.size)))
    freq = np.fft.rfftfreq(d2.size)
    band = spectrum[(freq > 0.3) & (freq < 0.49)]
    if band.size < 8:
        return False
    return float(band.max()) > params.upsampled_peak * max(float(np.median(band)), 1e-6)
