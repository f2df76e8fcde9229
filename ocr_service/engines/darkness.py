"""The working copy's darkness, its 3x3 jump and the page statistics the threshold map starts from.

One pass in overlapping row bands on the thread pool (`tiles.map_rows`): each band computes the
darkness and the jump of its own rows (a margin of the peak window's reach around them) and the
histograms of the page's row sample (`threshold.sample_rows`) that fall in its rows; the bands'
histograms add up to the page's. Every value is the one a single pass over the page gives: the
darkness is per pixel, the windows are local, and the sample's rows are the page's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.scale import odd
from ocr_service.engines.threshold import (
    FULL,
    darkness8,
    global_level,
    gradient8,
    hist_quantile,
    histogram,
    sample_step,
)
from ocr_service.engines.tiles import map_rows

if TYPE_CHECKING:
    from ocr_service.engines.binarize import BinarizeParams

Image = NDArray[Any]
MIN_BAND = 64
"""Rows a band needs at least (smaller pages are done in one pass)."""


@dataclass(frozen=True)
class PageStats:
    """`contrast`: 0.999 quantile of the jump; `level`: `threshold.global_level`; `sharpness`:
    `threshold.edge_sharpness` (median jump over the local peak on the stroke edges)."""

    contrast: float
    level: float
    sharpness: float


def darkness_and_stats(
    work: Image, background: Image, sw: float, params: BinarizeParams
) -> tuple[Image, Image, PageStats]:
    """(darkness8 of `work` over `background`, its gradient8, the page's statistics).

    `sw`: the stroke width in `work`'s pixels (the peak window of `edge_sharpness`). The edge
    sharpness needs the level, which needs the whole page's darkness histogram: each band keeps
    the joint histogram of (jump, jump / peak) on its sampled rows, and the edges (jump above
    `edge_fraction` x level) are picked from it once the level is known.
    """
    h, w = work.shape
    dark = np.empty((h, w), np.uint8)
    jump = np.empty((h, w), np.uint8)
    step = sample_step(work.size)
    k = odd(params.rim_strokes * sw)
    rim = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))

    def band(rows: slice, own: slice) -> tuple[Image, Image, Image]:
        d = darkness8(work[rows], background[rows])
        j = gradient8(d)
        peak = cv2.dilate(d, rim)
        start = rows.start + own.start
        dark[start : rows.start + own.stop] = d[own]
        jump[start : rows.start + own.stop] = j[own]
        first = -start % step  # the page's sampled rows in this band's own rows
        sampled = slice(own.start + first, own.stop, step)
        ds, js = d[sampled], j[sampled]
        ratio = cv2.divide(js, peak[sampled], scale=FULL)
        joint = cv2.calcHist([js, ratio], [0, 1], None, [256, 256], [0, 256, 0, 256])
        return histogram(ds), histogram(js), joint.astype(np.float64)

    parts = map_rows(h, max(1, k // 2), band, min_band=MIN_BAND)
    dark_hist = np.sum([p[0] for p in parts], axis=0)
    jump_hist = np.sum([p[1] for p in parts], axis=0)
    joint = np.sum([p[2] for p in parts], axis=0)
    level = global_level(dark, params, dark_hist)
    # edges: jump > floor(edge_fraction x level), as `threshold.edge_sharpness` takes them
    ratios = joint[int(np.floor(params.edge_fraction * level)) + 1 :].sum(axis=0)
    sharpness = hist_quantile(ratios, 0.5) / FULL if ratios.sum() > 0 else 1.0
    return dark, jump, PageStats(hist_quantile(jump_hist, 0.999), level, sharpness)
