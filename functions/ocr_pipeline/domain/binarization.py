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
ILLUMINATION_GRID = 8

# Tuned by `python -m bench --only auto_mode` (grid search on the bench corpus; see bench/README.md).
LOW_CONTRAST = 0.60
LOW_SEPARABILITY = 0.80
HIGH_ILLUMINATION_VARIATION = 0.065
HIGH_SATURATION = 0.30
DARK_BACKGROUND_FRACTION = 0.55
BILEVEL_SEPARABILITY = 0.97
HIGH_NOISE = 0.01


@dataclass(frozen=True, slots=True)
class ImageStats:
    """Statistics of an image's gray levels, each in [0, 1].

    ``noise`` is the median absolute difference between the gray image and its 3x3 median: 0 on any
    clean page however blurred or compressed (text edges are a small share of the pixels), about the
    grain's typical amplitude on a grainy one.
    """

    contrast: float
    separability: float
    illumination_variation: float
    saturation: float
    dark_fraction: float
    noise: float = 0.0

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


def image_stats(image: Image.Image) -> ImageStats:
    """Compute :class:`ImageStats` on a copy of ``image`` downscaled to at most ``ANALYSIS_MAX_SIDE``."""
    small = image.convert("RGB")
    small.thumbnail((ANALYSIS_MAX_SIDE, ANALYSIS_MAX_SIDE))
    rgb = np.asarray(small, dtype=np.float64)
    gray = rgb @ np.array([0.299, 0.587, 0.114])
    luma = small.convert("L")
    median = np.asarray(luma.filter(ImageFilter.MedianFilter(3)), dtype=np.float64)
    noise = float(np.median(np.abs(np.asarray(luma, dtype=np.float64) - median)) / 255.0)
    low, high = np.percentile(gray, [2, 98])
    threshold, separability = _otsu(gray)
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
    )


def decide_binarization(stats: ImageStats) -> BinarizationDecision:
    """Binarize when the page looks degraded in a way local binarization repairs.

    Uneven illumination, colored paper, grain, low contrast or a poorly separable histogram → binarize.
    An image that is already bilevel, or mostly dark (light text on dark ground, which local binarizers
    tend to mangle), or clean and evenly lit → recognize as is.
    """
    if stats.separability >= BILEVEL_SEPARABILITY and stats.saturation < HIGH_SATURATION:
        return BinarizationDecision(False, "already_bilevel", stats)
    if stats.dark_fraction >= DARK_BACKGROUND_FRACTION:
        return BinarizationDecision(False, "dark_background", stats)
    if stats.illumination_variation >= HIGH_ILLUMINATION_VARIATION:
        return BinarizationDecision(True, "uneven_illumination", stats)
    if stats.saturation >= HIGH_SATURATION:
        return BinarizationDecision(True, "colored_background", stats)
    if stats.noise >= HIGH_NOISE:
        return BinarizationDecision(True, "noisy", stats)
    if stats.contrast < LOW_CONTRAST:
        return BinarizationDecision(True, "low_contrast", stats)
    if stats.separability < LOW_SEPARABILITY:
        return BinarizationDecision(True, "poor_separability", stats)
    return BinarizationDecision(False, "clean", stats)
