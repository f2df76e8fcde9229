"""Whether binarizing an image before recognition is expected to help (the ``auto`` mode).

A pure function of image statistics computed on a downscaled grayscale copy. The thresholds are named
constants so a benchmark can tune them; the statistics are returned with the decision and recorded in the
result record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

ANALYSIS_MAX_SIDE = 768
DETAIL_MAX_SIDE = 2 * ANALYSIS_MAX_SIDE
"""Side of the central crop that contrast, separability and noise are read on (downscaled to
``ANALYSIS_MAX_SIDE``): a page up to this size is read whole, as the thresholds were tuned; a larger
scan is downscaled at most 2x there instead of 4.6x for an A4 page at 300 dpi, which greys its strokes
and averages its grain away (a clean A4 render's separability: 0.867 whole, 0.894 on the crop; a
1000 x 700 page's 0.895)."""
ILLUMINATION_GRID = 8
SHARPNESS_WINDOW = 768
"""Side of the window, at the image's own resolution and centred on it, the edge sharpness is read on."""
EDGE_JUMP = 0.4
"""Edge pixels for the sharpness: a 3x3 jump of at least this share of the window's contrast."""

# Tuned by `python -m bench --only auto_mode` (grid search on the bench corpus, points within two
# misread characters of the lowest CER counted equal and the one binarizing most taken; see
# bench/README.md). Refitted with the edge sharpness: LOW_SEPARABILITY 0.80 -> 0.88 (the soft
# JPEG, highlighter and bleed-through pages read as well or better binarized), HIGH_SATURATION
# 0.30 -> 0.20 (the palest coloured paper), LOW_SHARPNESS 0.85 (blurred pages, every one read at
# least as well binarized once the binarizer deconvolves them).
LOW_CONTRAST = 0.60
LOW_SEPARABILITY = 0.88
HIGH_ILLUMINATION_VARIATION = 0.065
HIGH_SATURATION = 0.20
DARK_BACKGROUND_FRACTION = 0.55
BILEVEL_SEPARABILITY = 0.97
BILEVEL_SHARE = 0.99
"""``two_level_share`` from which an image counts as already black and white, whatever its size: the
OCR service returns such an image unchanged (its `bilevel_threshold`), so binarizing it only costs a
call; not tuned."""
BILEVEL_TOLERANCE = 2
"""Grey levels either side of each of the two dominant levels counted into ``two_level_share``."""
HIGH_NOISE = 0.01
LOW_SHARPNESS = 0.85
SHEET_BORDER = 0.95
"""``sheet_border`` from which a page counts as a photographed sheet: a desk shows along every side of
the frame, the OCR service's own test for a phone photo (`perspective.find_page`: the whole sheet
inside the frame, at least `SHEET_CONTRAST` brighter than what surrounds it); not tuned."""
SHEET_CONTRAST = 40.0 / 255.0
"""Share of the grey range the frame's edge must lie below the paper to count as desk."""
SHEET_BAND = 0.015
"""Width of the band along each side of the frame read for ``sheet_border``, as a share of the long side."""
UPSAMPLED_INTERPOLATION = 1.0 - 1.0 / 40.0
"""``interpolation`` from which a page counts as interpolated up from a lower resolution: a spectral
line 40 times its band's median, the OCR service binarizer's own test (`upsampled_peak`); not tuned."""


@dataclass(frozen=True, slots=True)
class ImageStats:
    """Statistics of an image's gray levels, each in [0, 1].

    ``noise`` is the median absolute difference between the gray image and its 3x3 median: 0 on any
    clean page however blurred or compressed (text edges are a small share of the pixels), about the
    grain's typical amplitude on a grainy one.

    ``sharpness`` is the median, over the stroke edges of a window at the image's own resolution, of
    the 3x3 jump in gray level over the darkest ink within 2 px: about 1 on a render or a sharp scan
    (ink reaches full darkness within a pixel), 0.6-0.7 once optics, focus or upsampling from a lower
    resolution spread each edge over several pixels; 1 when the window has no edges.

    ``interpolation`` tells the two soft cases apart (resampling detection, after Popescu and Farid):
    linear interpolation from a grid 2-3.3 px apart leaves the rows' second difference periodic, a
    sharp line in its spectrum; 1 - median / line height in that band of the same window, near 1
    (above 0.975) on a page upsampled from a lower resolution, 0.6-0.96 on a blurred or sharp one.
    A blurred page is deconvolved by the binarizer; an upsampled one has lost its detail for good.

    ``two_level_share`` is the share of the pixels, counted at the image's own resolution, within
    ``BILEVEL_TOLERANCE`` grey levels of its two most frequent levels: 1 on a 1-bit scan or fax, about
    0.93-0.95 on a clean grey render (the anti-aliased edges), less on anything degraded. The
    separability of the downscaled copy cannot tell: downscaling a 300 dpi black-and-white page
    turns its strokes grey (separability 0.87 on an A4 page, against 1.0 at 700 px).

    ``sheet_border`` is the least, over the frame's four sides, of the share of a band along that side
    lying at least ``SHEET_CONTRAST`` below the paper (the bright level of the central half): 1 on a
    phone photo that shows the whole sheet on a darker desk, 0 on a scan (paper or white margins reach
    the edge), and below 1 when only some sides are dark (a shadow, light falling off to one corner).
    """

    contrast: float
    separability: float
    illumination_variation: float
    saturation: float
    dark_fraction: float
    noise: float = 0.0
    sharpness: float = 1.0
    interpolation: float = 0.0
    sheet_border: float = 0.0
    two_level_share: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The statistics rounded for the result record."""
        return {name: round(value, 4) for name, value in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class BinarizationDecision:
    """The ``auto`` mode's verdict for one image and the evidence behind it."""

    binarize: bool
    reason: str
    stats: ImageStats


def _otsu(gray: NDArray[np.float64]) -> tuple[float, float]:
    """Otsu threshold (0..255) and separability η = between-class / total variance."""
    hist = np.bincount(gray.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    prob = hist / max(hist.sum(), 1.0)
    levels = np.arange(256, dtype=np.float64)
    omega = np.cumsum(prob)
    mu = np.cumsum(prob * levels)
    mu_total = mu[-1]
    total_var = float((prob * (levels - mu_total) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_total * omega - mu) ** 2 / (omega * (1.0 - omega))
    between = np.nan_to_num(between, nan=0.0, posinf=0.0)
    threshold = int(np.argmax(between))
    separability = float(between[threshold] / total_var) if total_var > 0 else 1.0
    return float(threshold), min(separability, 1.0)


def _illumination_variation(gray: NDArray[np.float64]) -> float:
    """Spread of the local background (bright percentile per grid cell) relative to its mean."""
    rows = np.array_split(gray, ILLUMINATION_GRID, axis=0)
    backgrounds = [
        float(np.percentile(cell, 90))
        for row in rows
        for cell in np.array_split(row, ILLUMINATION_GRID, axis=1)
        if cell.size
    ]
    mean = float(np.mean(backgrounds))
    return float(np.std(backgrounds) / mean) if mean > 0 else 0.0


def _window_extreme(gray: NDArray[np.uint8], *, lowest: bool) -> NDArray[np.uint8]:
    """Minimum (or maximum) over each pixel's 3x3 neighbourhood, edges replicated."""
    pick = np.minimum if lowest else np.maximum
    padded = np.pad(gray, 1, mode="edge")
    rows = pick(pick(padded[:-2], padded[1:-1]), padded[2:])
    out: NDArray[np.uint8] = pick(pick(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    return out


def _edge_sharpness(gray: NDArray[np.uint8]) -> float:
    """Median over edge pixels of the 3x3 jump over the 5x5 peak darkness below the paper (0..1]."""
    darkest, paper = np.percentile(gray, [0.5, 98])
    contrast = float(paper - darkest)
    if contrast <= 0:
        return 1.0
    low3 = _window_extreme(gray, lowest=True)
    jump = _window_extreme(gray, lowest=False) - low3
    edges = jump >= EDGE_JUMP * contrast
    peak = paper - _window_extreme(low3, lowest=True)[edges].astype(np.float64)
    ratio = jump[edges][peak > 0] / peak[peak > 0]
    return float(min(1.0, np.median(ratio))) if ratio.size else 1.0


def _interpolation(gray: NDArray[np.uint8]) -> float:
    """1 - median / peak of the rows' mean second-difference spectrum between periods 2 and 3.3 px."""
    if gray.shape[1] < 64:
        return 0.0
    rows = gray.astype(np.float32)
    d2 = np.abs(rows[:, 2:] - 2.0 * rows[:, 1:-1] + rows[:, :-2]).mean(axis=0)
    d2 -= d2.mean()
    spectrum = np.abs(np.fft.rfft(d2 * np.hanning(d2.size)))
    freq = np.fft.rfftfreq(d2.size)
    band = spectrum[(freq > 0.3) & (freq < 0.49)]
    peak = float(band.max()) if band.size >= 8 else 0.0
    return 1.0 - float(np.median(band)) / peak if peak > 0 else 0.0


def _two_level_share(image: Image.Image) -> float:
    """Share of the pixels (full resolution) near the image's two most frequent grey levels."""
    hist = np.asarray(image.convert("L").histogram(), dtype=np.float64)
    total = hist.sum()
    if total <= 0:
        return 0.0
    near = np.convolve(hist, np.ones(2 * BILEVEL_TOLERANCE + 1), mode="same")
    first = int(np.argmax(hist))
    others = hist.copy()
    others[max(0, first - 2 * BILEVEL_TOLERANCE) : first + 2 * BILEVEL_TOLERANCE + 1] = -1.0
    second = int(np.argmax(others))
    return float(min(1.0, (near[first] + near[second]) / total))


def _sheet_border(gray: NDArray[np.float64]) -> float:
    """The least share, over the four sides, of a band along the frame's edge darker than the paper."""
    height, width = gray.shape
    if min(height, width) < 16:
        return 0.0
    centre = gray[height // 4 : height - height // 4, width // 4 : width - width // 4]
    paper = float(np.percentile(centre, 90))
    band = max(2, round(SHEET_BAND * max(height, width)))
    desk = gray < paper - 255.0 * SHEET_CONTRAST
    sides = (desk[:band], desk[-band:], desk[:, :band], desk[:, -band:])
    return float(min(side.mean() for side in sides))


def _centre_window(image: Image.Image) -> NDArray[np.uint8]:
    """Gray levels of the central ``SHARPNESS_WINDOW`` square (or less) at the image's resolution."""
    width, height = image.size
    side_x, side_y = min(width, SHARPNESS_WINDOW), min(height, SHARPNESS_WINDOW)
    left, top = (width - side_x) // 2, (height - side_y) // 2
    window = image.crop((left, top, left + side_x, top + side_y)).convert("RGB").convert("L")
    return np.asarray(window, dtype=np.uint8)


def _downscaled(image: Image.Image) -> tuple[NDArray[np.float64], NDArray[np.float64], Image.Image]:
    """(RGB, grey, luma image) of a copy of ``image`` downscaled to at most ``ANALYSIS_MAX_SIDE``."""
    small = image.convert("RGB")
    small.thumbnail((ANALYSIS_MAX_SIDE, ANALYSIS_MAX_SIDE))
    rgb = np.asarray(small, dtype=np.float64)
    return rgb, rgb @ np.array([0.299, 0.587, 0.114]), small.convert("L")


def image_stats(image: Image.Image) -> ImageStats:
    """Compute :class:`ImageStats` on a copy of ``image`` downscaled to at most ``ANALYSIS_MAX_SIDE``.

    Contrast, separability and noise are read on the central ``DETAIL_MAX_SIDE`` square of a larger
    image instead, so a large scan's strokes and grain are not averaged away. Edge sharpness and
    interpolation are read at the image's own resolution (downscaling sharpens edges and erases
    interpolation's period), on its central ``SHARPNESS_WINDOW`` square, so their cost stays bounded on
    large scans.
    """
    rgb, gray, luma = _downscaled(image)
    width, height = image.size
    detail, luma_detail = gray, luma
    if max(width, height) > DETAIL_MAX_SIDE:
        side_x, side_y = min(width, DETAIL_MAX_SIDE), min(height, DETAIL_MAX_SIDE)
        left, top = (width - side_x) // 2, (height - side_y) // 2
        _, detail, luma_detail = _downscaled(image.crop((left, top, left + side_x, top + side_y)))
    median = np.asarray(luma_detail.filter(ImageFilter.MedianFilter(3)), dtype=np.float64)
    noise = float(np.median(np.abs(np.asarray(luma_detail, dtype=np.float64) - median)) / 255.0)
    low, high = np.percentile(detail, [2, 98])
    window = _centre_window(image)
    threshold, separability = _otsu(gray)
    if detail is not gray:
        separability = _otsu(detail)[1]
    channel_max = rgb.max(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        saturation = np.where(channel_max > 0, (channel_max - rgb.min(axis=2)) / channel_max, 0.0)
    return ImageStats(
        contrast=float((high - low) / 255.0),
        separability=separability,
        illumination_variation=_illumination_variation(gray),
        saturation=float(saturation.mean()),
        dark_fraction=float((gray <= threshold).mean()),
        noise=noise,
        sharpness=_edge_sharpness(window),
        interpolation=_interpolation(window),
        sheet_border=_sheet_border(gray),
        two_level_share=_two_level_share(image),
    )


def decide_binarization(stats: ImageStats) -> BinarizationDecision:
    """Binarize when the page looks degraded in a way local binarization repairs.

    Uneven illumination, colored paper, grain, soft edges that are not
    interpolation's (the binarizer deconvolves a blurred page),
    low contrast or a poorly separable histogram → binarize.
    An image that is already bilevel, or mostly dark (light text on dark ground, which local binarizers
    tend to mangle), or a photographed sheet, or clean and evenly lit → recognize as is.
    A phone photo reads better as it is: RecognizeImage flattens the grey photo and its reader keeps
    the grey edges of small, soft text, while a binarized photo has lost both its desk (so nothing is
    left to flatten it by) and those edges (bench/README.md: 0.12 % against 2.28 % CER on held-out faces).
    """
    bilevel = stats.separability >= BILEVEL_SEPARABILITY or stats.two_level_share >= BILEVEL_SHARE
    if bilevel and stats.saturation < HIGH_SATURATION:
        return BinarizationDecision(False, "already_bilevel", stats)
    if stats.dark_fraction >= DARK_BACKGROUND_FRACTION:
        return BinarizationDecision(False, "dark_background", stats)
    if stats.sheet_border >= SHEET_BORDER:
        return BinarizationDecision(False, "photographed_sheet", stats)
    if stats.illumination_variation >= HIGH_ILLUMINATION_VARIATION:
        return BinarizationDecision(True, "uneven_illumination", stats)
    if stats.saturation >= HIGH_SATURATION:
        return BinarizationDecision(True, "colored_background", stats)
    if stats.noise >= HIGH_NOISE:
        return BinarizationDecision(True, "noisy", stats)
    if stats.sharpness < LOW_SHARPNESS and stats.interpolation < UPSAMPLED_INTERPOLATION:
        return BinarizationDecision(True, "blurred", stats)
    if stats.contrast < LOW_CONTRAST:
        return BinarizationDecision(True, "low_contrast", stats)
    if stats.separability < LOW_SEPARABILITY:
        return BinarizationDecision(True, "poor_separability", stats)
    return BinarizationDecision(False, "clean", stats)
