"""Scale and background estimates a binarizer needs: stroke width, paper background, Otsu split.

Everything here works on small (working) copies of the page; the binarizer resizes the results up.
All heavy arithmetic is done by OpenCV on uint8/float32 buffers.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.tiles import map_rows

Image = NDArray[Any]
RIDGE_MARGIN = 64
"""Rows of overlap between the bands the distance transform runs on (half-widths up to that)."""
_ONES = np.ones((3, 3), np.uint8)


def to_gray(image: Image) -> Image:
    """Luma of an RGB (H, W, 3), RGBA (H, W, 4) or gray (H, W) uint8 image, as (H, W) uint8."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        out: Image = cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
        return out
    if image.ndim == 3 and image.shape[2] == 3:
        out = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return out
    raise ValueError(f"unsupported image shape {image.shape}")


def odd(n: float) -> int:
    """The odd integer >= 3 nearest to `n` (window sizes)."""
    return max(3, round(n) | 1)


def resize(image: Image, size: tuple[int, int], *, area: bool = True) -> Image:
    """Resize to `size` = (width, height): area averaging when shrinking, bilinear when growing."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrink = size[0] < image.shape[1]
    interpolation = cv2.INTER_AREA if shrink and area else cv2.INTER_LINEAR
    out: Image = cv2.resize(image, size, interpolation=interpolation)
    return out


def scaled_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """(width, height) of an image of `shape` scaled by `scale`, at least 8 px a side."""
    return max(8, round(shape[1] * scale)), max(8, round(shape[0] * scale))


def otsu_split(hist: NDArray[np.float64]) -> tuple[int, float, float, float]:
    """Otsu on a histogram: (threshold bin, separability between/total variance, low mean, high mean).

    Bins <= threshold form the low class. Separability is 1.0 for a histogram with one level.
    """
    total = float(hist.sum())
    prob = hist / max(total, 1.0)
    levels = np.arange(hist.size, dtype=np.float64)
    omega = np.cumsum(prob)
    mu = np.cumsum(prob * levels)
    mu_total = float(mu[-1])
    variance = float((prob * (levels - mu_total) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_total * omega - mu) ** 2 / (omega * (1.0 - omega))
    between = np.nan_to_num(between, nan=0.0, posinf=0.0)
    t = int(np.argmax(between))
    low = float(mu[t] / omega[t]) if omega[t] > 0 else 0.0
    high = float((mu_total - mu[t]) / (1.0 - omega[t])) if omega[t] < 1 else float(hist.size - 1)
    separability = float(between[t] / variance) if variance > 0 else 1.0
    return t, min(separability, 1.0), low, high


def _sample(values: Image, limit: int = 1_000_000) -> Image:
    """Every n-th row of a large image (statistics need no more than ~`limit` pixels)."""
    step = max(1, values.size // limit) if values.ndim == 2 else 1
    out: Image = np.ascontiguousarray(values[::step] if step > 1 else values, dtype=np.float32)
    return out


def otsu_level(darkness: Image) -> float:
    """Otsu threshold (0..1) of a float32 darkness image in 0..1."""
    sample = _sample(darkness)
    hist = cv2.calcHist([sample], [0], None, [256], [0.0, 1.0 + 1e-6]).ravel().astype(np.float64)
    return (otsu_split(hist)[0] + 1) / 256.0


def quantile(values: Image, q: float, bins: int = 1024) -> float:
    """The `q` quantile (0..1) of float32 `values` in 0..1, to 1/`bins` (histogram, no sort)."""
    flat = _sample(values).reshape(-1, 1)
    hist = cv2.calcHist([flat], [0], None, [bins], [0.0, 1.0 + 1e-6]).ravel()
    cumulative = np.cumsum(hist)
    if cumulative[-1] <= 0:
        return 0.0
    return float(np.searchsorted(cumulative, q * cumulative[-1]) + 0.5) / bins


def darkness(gray: Image, background: Image) -> Image:
    """Relative darkness (B - I) / B in 0..1 (float32): 0 on paper, 1 for black ink on any paper."""
    g = gray.astype(np.float32)
    out: Image = cv2.divide(cv2.subtract(background, g), background)
    return np.clip(out, 0.0, 1.0, out=out)


def closing_background(gray: Image, kernel: int) -> Image:
    """Paper estimate: grey closing (removes dark strokes narrower than `kernel`), then a box blur."""
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (kernel, kernel))
    closed = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, se)
    out = cv2.blur(closed, (kernel, kernel)).astype(np.float32)
    return np.maximum(out, 1.0, out=out)


def stroke_width(ink: Image) -> float:
    """Typical stroke width in pixels of a uint8 ink mask: twice the median distance-transform ridge.

    The ridge (local maxima of the distance to paper) runs along the middle of every stroke, so its
    distances are half-widths, whatever the strokes' length or direction. 0.0 for a mask without ink.
    Large masks are cut into overlapping row bands run in parallel (`tiles.map_rows`), each band
    handing back the ridge distances of its own rows only.
    """
    if not cv2.countNonZero(ink):
        return 0.0
    parts = map_rows(
        ink.shape[0], RIDGE_MARGIN, lambda rows, own: _ridge(ink[rows], own), min_band=4 * RIDGE_MARGIN
    )
    # float64: on a mask without paper every distance is OpenCV's "infinite" (float32 max)
    values = np.concatenate(parts).astype(np.float64)
    return 2.0 * float(np.median(values)) if values.size else 0.0


def _ridge(ink: Image, own: slice) -> NDArray[np.float32]:
    """The distances to paper on the ridge of `ink`'s strokes, in the rows `own` (row-major order)."""
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    ridge = cv2.compare(dist, cv2.dilate(dist, _ONES), cv2.CMP_GE)
    on = cv2.bitwise_and(ridge[own], ink[own])
    values: NDArray[np.float32] = np.asarray(dist[own][on > 0], np.float32)
    return values


def push_pull(values: Image, weights: Image, min_side: int = 4) -> Image:
    """Fill `values` where `weights` (0..1) are low from the weighted neighbourhood, at every scale.

    A Gaussian pyramid of weighted values is built down to a few pixels and collapsed back up, each
    level keeping its own weighted mean where it has support and taking the coarser estimate where it
    has none: holes of any size (wide strokes, stains) are bridged smoothly by the surrounding paper.
    """
    weighted = cv2.multiply(values, weights)
    levels: list[tuple[Image, Image]] = []
    w = weights
    while min(weighted.shape[:2]) > min_side:
        levels.append((weighted, w))
        weighted, w = cv2.pyrDown(weighted), cv2.pyrDown(w)
    total = float(w.sum())
    fallback = float(weighted.sum()) / total if total > 1e-6 else float(values.mean())
    estimate = np.where(w > 1e-6, weighted / np.maximum(w, 1e-6), fallback).astype(np.float32)
    for weighted_l, w_l in reversed(levels):
        up = cv2.pyrUp(estimate, dstsize=(weighted_l.shape[1], weighted_l.shape[0]))
        support = np.minimum(w_l, 1.0)
        mean_l = weighted_l / np.maximum(w_l, 1e-6)
        estimate = (support * mean_l + (1.0 - support) * up).astype(np.float32)
    return estimate
