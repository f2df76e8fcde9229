"""The binarizer's per-pixel threshold map, computed on 8-bit darkness at the working scale.

Darkness D = (B - I) / B is held as uint8 (0..255 for 0..1): every window, comparison and component
pass then runs on OpenCV's 8/16-bit fast paths, and the smooth statistics (paper darkness mean and
spread over ten stroke widths) are computed on a grid coarser by about five stroke widths and
interpolated back. See `threshold_map` for the decision rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.scale import odd, otsu_split, resize

if TYPE_CHECKING:
    from ocr_service.engines.binarize import BinarizeParams

Image = NDArray[Any]
FULL = 255.0
"""Darkness 1.0 in uint8 units."""
_ONES = np.ones((3, 3), np.uint8)


def darkness8(gray: Image, background: Image) -> Image:
    """Relative darkness (B - I) / B of uint8 `gray` over float32 `background`, as uint8 0..255."""
    diff = cv2.subtract(background, gray, dtype=cv2.CV_32F)
    out: Image = cv2.divide(diff, background, scale=FULL, dtype=cv2.CV_8U)
    return out


def gradient8(dark: Image) -> Image:
    """3x3 morphological gradient (local max - local min) of a uint8 image."""
    out: Image = cv2.morphologyEx(dark, cv2.MORPH_GRADIENT, _ONES)
    return out


def histogram(image: Image, mask: Image | None = None, bins: int = 256) -> NDArray[np.float64]:
    """Histogram of a uint8 (or uint16 with `bins` labels) image, optionally under a uint8 mask."""
    hist = cv2.calcHist([image], [0], mask, [bins], [0, bins]).ravel().astype(np.float64)
    return hist


def sample_step(size: int, limit: int = 500_000) -> int:
    """The row step of `sample_rows` for an image of `size` pixels."""
    return max(1, size // limit)


def sample_rows(image: Image, limit: int = 500_000) -> Image:
    """Every n-th row of `image` (a view), so that about `limit` pixels remain: enough for statistics."""
    step = sample_step(image.size, limit)
    return image[::step] if step > 1 else image


def page_histogram(gray: Image) -> NDArray[np.float64]:
    """Grey-level histogram of a page's row sample (`sample_rows`): the page tests share it."""
    return histogram(sample_rows(gray))


def hist_quantile(hist: NDArray[np.float64], q: float) -> float:
    """The `q` quantile (0..1) of the levels a histogram counts (its bin index, +0.5)."""
    cumulative = np.cumsum(hist)
    if cumulative[-1] <= 0:
        return 0.0
    return float(np.searchsorted(cumulative, q * cumulative[-1])) + 0.5


def _gt(image: Image, level: float) -> Image:
    """uint8 mask (255) where integer `image` > `level` (any float)."""
    return cv2.threshold(image, float(np.floor(level)), 255, cv2.THRESH_BINARY)[1]


def _scaled(image: Image, factor: float) -> Image:
    """uint8 `image` x `factor`, rounded and saturated."""
    out: Image = cv2.convertScaleAbs(image, alpha=factor)
    return out


def _labels(mask: Image) -> tuple[int, Image]:
    """Connected components (8-connected) of a uint8 mask: (count, labels).

    Labels are uint16 (OpenCV labels a page several times faster than into int32) unless the mask
    has more components than that holds, then int32.
    """
    for ltype in (cv2.CV_16U, cv2.CV_32S):
        try:
            count, labels = cv2.connectedComponents(mask, connectivity=8, ltype=ltype)
            return count, labels
        except cv2.error:
            continue
    raise AssertionError("unreachable: CV_32S labels cannot overflow")


def _count_per_label(labels: Image, count: int, where: Image) -> NDArray[np.float64]:
    """How many pixels of each label lie under the uint8 mask `where`."""
    # the mask picks a few percent of the pixels: counting those beats a histogram of every label
    return np.bincount(labels[where > 0], minlength=count).astype(np.float64)


def _select(labels: Image, keep: NDArray[np.bool_], mask: Image) -> Image:
    """uint8 mask (255) of the labels `keep` marks; `mask` itself when every component is kept."""
    keep = keep.copy()
    keep[0] = False
    if keep[1:].all():
        return mask
    lut = np.where(keep, 255, 0).astype(np.uint8)
    selected: Image = lut.take(labels)
    return selected


def reaching_ink(dark: Image, strong: Image, min_area: float) -> Image:
    """uint8 mask (255) of the `strong` components that are real ink, not show-through.

    The darkness of the strong pixels splits (Otsu) into lighter and darker ink; a component of at
    least `min_area` pixels none of whose pixels is darker than the lighter class's mean is the ghost
    of the other side of the sheet, a stain or a shadow line, not writing. A faint stroke of real
    writing still holds pixels that dark (its fainter parts are grown back by the hysteresis); small
    marks (dots, commas, the thin bits of blurred small print) are left alone.
    """
    hist = histogram(sample_rows(dark), sample_rows(strong))
    if hist.sum() <= 0:
        return strong
    lighter_mean = otsu_split(hist)[2]
    count, labels = _labels(strong)
    seeds = cv2.bitwise_and(_gt(dark, lighter_mean), strong)
    reaching = _count_per_label(labels, count, seeds)
    if reaching[1:].all():
        return strong
    # the areas only matter when some component is not reached (labelling with stats costs more)
    area = _count_per_label(labels, count, strong)
    return _select(labels, (reaching > 0) | (area < min_area), strong)


def hysteresis(strong: Image, weak: Image, min_seed: float) -> Image:
    """uint8 mask (255) of the `weak` components that hold at least `min_seed` `strong` pixels.

    A faint hairline or the soft end of a stroke joins the ink it continues; an isolated faint
    blot (bleed-through, grain), or one seeded only by a speck of noise, does not.
    """
    count, labels = _labels(weak)
    seeds = _count_per_label(labels, count, strong)
    return _select(labels, seeds >= max(1.0, min_seed), weak)


def paper_floors(
    dark: Image, threshold: Image, sw: float, sigmas: tuple[float, float], params: BinarizeParams
) -> tuple[Image, Image]:
    """Local paper darkness mean + k standard deviations, for each k of `sigmas`, as uint8 maps.

    Statistics of the pixels at or below `threshold` (the paper) over a Gaussian of `noise_strokes`
    x sw, computed on a grid about sigma / 2 coarser (area averages of the masked planes, blurred
    there) and interpolated back: the surface is smooth at that scale, so nothing is lost.
    """
    sigma = max(1.0, params.noise_strokes * sw)
    h, w = dark.shape
    factor = max(1, min(int(sigma / 2.0), h // 8, w // 8))
    # blocks of 4 px or more are read at every other pixel: an unbiased sample of the paper's
    # darkness (its mean and its pixel-to-pixel spread), at a quarter of the cost
    step = 2 if factor >= 4 else 1
    factor -= factor % step
    size = (w // factor, h // factor)
    crop = (slice(0, size[1] * factor, step), slice(0, size[0] * factor, step))
    sigma_small = sigma / factor
    sub = np.ascontiguousarray(dark[crop])
    paper = cv2.compare(sub, np.ascontiguousarray(threshold[crop]), cv2.CMP_LE)
    masked = cv2.bitwise_and(sub, paper)
    block = (factor // step, factor // step)
    # block sums (unnormalised box filters on uint8, read at every block's centre) = area averages
    sums = (
        cv2.boxFilter(paper, cv2.CV_32F, block, normalize=False),
        cv2.boxFilter(masked, cv2.CV_32F, block, normalize=False),
        cv2.sqrBoxFilter(masked, cv2.CV_32F, block, normalize=False),
    )
    centre = slice(block[0] // 2, None, block[0])
    support, first, second = (
        cv2.GaussianBlur(np.ascontiguousarray(p[centre, centre]), (0, 0), sigma_small) for p in sums
    )
    support = np.maximum(support * (1.0 / FULL), 1e-3 * block[0] * block[1])
    mean = first / support
    spread = cv2.sqrt(np.maximum(second / support - mean * mean, 0.0))
    out = []
    for k in sigmas:
        small = cv2.convertScaleAbs(cv2.scaleAdd(spread, k, mean))
        # one replicated block past the edge covers the partial block left out above
        small = cv2.copyMakeBorder(small, 0, 1, 0, 1, cv2.BORDER_REPLICATE)
        out.append(resize(small, ((size[0] + 1) * factor, (size[1] + 1) * factor))[:h, :w])
    return out[0], out[1]


def global_level(dark: Image, params: BinarizeParams, hist: NDArray[np.float64] | None = None) -> float:
    """Otsu level of the darkness, raised to `ink_level_fraction` of the ink's `ink_percentile`.

    `hist`: the histogram of `sample_rows(dark)`, when at hand.
    """
    hist = histogram(sample_rows(dark)) if hist is None else hist
    level = float(otsu_split(hist)[0]) + 0.5
    ink = hist.copy()
    ink[: int(level) + 1] = 0
    if ink.sum() > 0:
        level = max(level, params.ink_level_fraction * hist_quantile(ink, params.ink_percentile / 100))
    return max(level, FULL * params.min_contrast / 2)


def edge_sharpness(dark: Image, jump: Image, sw: float, level: float, params: BinarizeParams) -> float:
    """Median, over the page's stroke edges, of the 3x3 jump over the local peak darkness (0..1].

    An edge whose ink goes from paper to full darkness within a pixel (a clean render, a sharp scan)
    scores about 1; blur, optics or low resolution spread the same contrast over several pixels and
    the jump falls to a fraction of the peak (DIBCO scans: 0.65-0.92).
    """
    rim = cv2.getStructuringElement(cv2.MORPH_RECT, (odd(params.rim_strokes * sw),) * 2)
    peak = cv2.dilate(dark, rim)
    ratio = cv2.divide(jump, peak, scale=FULL)
    edges = _gt(jump, params.edge_fraction * level)
    hist = histogram(sample_rows(ratio), sample_rows(edges))
    return hist_quantile(hist, 0.5) / FULL if hist.sum() > 0 else 1.0


def rim_fraction(sharpness: float, params: BinarizeParams) -> float:
    """Fraction of the local peak darkness at which a stroke's edge is cut, from the edge sharpness.

    On a sharp edge a pixel's darkness is its ink coverage, so half the peak is the coverage
    midpoint (`rim_fraction`); on a soft edge the ink's darkness fades over several pixels and the
    visible stroke reaches further out, so the cut goes down to `rim_soft_fraction`, linearly
    between `edge_soft` and `edge_sharp` sharpness.
    """
    span = max(params.edge_sharp - params.edge_soft, 1e-6)
    t = float(np.clip((sharpness - params.edge_soft) / span, 0.0, 1.0))
    return params.rim_soft_fraction + t * (params.rim_fraction - params.rim_soft_fraction)


def threshold_map(
    dark: Image,
    sw: float,
    params: BinarizeParams,
    *,
    level: float | None = None,
    jump: Image | None = None,
    rim: float | None = None,
) -> Image:
    """Per-pixel uint8 threshold on the working copy (`sw` in its pixels): ink where dark > T.

    * global: Otsu on D (`global_level`);
    * contrast-adaptive (after Su et al.): near high-contrast stroke edges (a 3x3 jump of at least
      `edge_fraction` x the level), T drops to the mean darkness of those edges (never below
      `floor_fraction` x the level nor `ink_level_fraction` of the local peak);
    * noise: T never below the local paper darkness mean + `noise_sigmas` standard deviations;
    * strong marks that never reach real ink's darkness are dropped (`reaching_ink`), then weak
      pixels (above half the strong threshold, the paper's `weak_noise_sigmas` floor and
      the `rim` fraction of the nearby peak) that connect to enough strong ink are grown back.

    `level`: the global level when `dark` is a band of a larger page (default: this image's own);
    `jump`: its `gradient8`, when already computed; `rim`: the edge cut (default `rim_fraction` of
    this image's own `edge_sharpness`).
    """
    level = global_level(dark, params) if level is None else level
    jump = gradient8(dark) if jump is None else jump
    if rim is None:
        rim = rim_fraction(edge_sharpness(dark, jump, sw, level, params), params)
    edges = _gt(jump, params.edge_fraction * level)
    k = odd(params.local_strokes * sw)
    window = (k, k)
    depth = cv2.CV_16U if k * k * 255 < 65535 else cv2.CV_32F
    count = cv2.boxFilter(cv2.threshold(edges, 0, 1, cv2.THRESH_BINARY)[1], depth, window, normalize=False)
    total = cv2.boxFilter(cv2.bitwise_and(dark, edges), depth, window, normalize=False)
    edge_mean = cv2.divide(total, count).astype(np.uint8)
    peak = cv2.dilate(dark, cv2.getStructuringElement(cv2.MORPH_RECT, window))
    local = cv2.max(edge_mean, _scaled(peak, params.ink_level_fraction))
    top = int(np.floor(level))
    local = np.clip(local, int(np.floor(params.floor_fraction * level)), top, out=local)
    threshold = np.full_like(dark, top)
    cv2.copyTo(local, (count >= k).view(np.uint8), threshold)
    strong_floor, weak_floor = paper_floors(
        dark, threshold, sw, (params.noise_sigmas, params.weak_noise_sigmas), params
    )
    strong_threshold = cv2.max(threshold, strong_floor)
    near = cv2.getStructuringElement(cv2.MORPH_RECT, (odd(params.rim_strokes * sw),) * 2)
    weak_threshold = cv2.max(_scaled(strong_threshold, params.weak_fraction), weak_floor)
    weak_threshold = cv2.max(weak_threshold, _scaled(cv2.dilate(dark, near), rim))
    strong = cv2.compare(dark, strong_threshold, cv2.CMP_GT)
    weak = cv2.compare(dark, weak_threshold, cv2.CMP_GT)
    out: Image = strong_threshold
    kept = reaching_ink(dark, strong, params.ghost_strokes * sw * sw)
    if kept is not strong:
        # strong marks that never reach real ink's darkness (bleed-through, stains) become paper
        out = cv2.max(out, cv2.subtract(strong, cv2.dilate(kept, _ONES)))
    grown = hysteresis(kept, weak, params.seed_strokes * sw * sw)
    # the grown pixels take the lower threshold (computed before `out` may be written over)
    cv2.copyTo(cv2.min(weak_threshold, strong_threshold), grown, out)
    return out
