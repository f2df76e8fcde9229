"""Document binarization whose every window is sized from the page's own stroke width.

Method (see the README's binarization section for the measurements behind each step):

1. grayscale (luma). A page that is already black and white (its darkest and lightest levels are its
   two dominant ones and hold most pixels, see `bilevel_threshold`) is thresholded halfway between
   them and returned: a clean scan comes back unchanged.
2. light-on-dark regions (blocks whose local mean lies nearer the local minimum than the maximum) are
   inverted so all text is dark on light.
3. stroke width `sw`: a first pass (coarse closing background, relative darkness, Otsu) gives an ink
   mask whose distance-transform ridge measures half stroke widths; the median, times two, is `sw`.
4. paper background, on a working copy where strokes are about `work_stroke_px` wide: a closing
   `background_strokes` x `sw` wide gives a first ink estimate; those pixels (and a 1 px rim) are then
   removed and the paper is interpolated over them by push-pull, so a stroke of any width, a stain
   or a dense line of text never pulls the background down (no hollow strokes).
5. relative darkness D = (B - I) / B: uneven light, shadows and coloured paper divide out.
6. the decision, per pixel, against a threshold map T built on the working copy:
   * global: Otsu on D;
   * contrast-adaptive (after Su et al.): near high-contrast stroke edges (a 3x3 jump of at least
     `edge_fraction` x Otsu), T drops to the mean darkness of those edges (never below
     `floor_fraction` x Otsu), so faint and hairline ink next to real edges survives;
   * noise: T never below the local paper darkness mean + `noise_sigmas` standard deviations
     (measured over `noise_strokes` x `sw`), so grain on dark or noisy paper is not ink;
   the comparison is done at full resolution as I < B (1 - T) against the upsampled grey-level gate.

All arithmetic is done by OpenCV calls on uint8/float32 buffers; there are no per-pixel Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.scale import (
    closing_background,
    darkness,
    odd,
    otsu_level,
    otsu_split,
    push_pull,
    quantile,
    resize,
    scaled_size,
    stroke_width,
)


@dataclass(frozen=True)
class BinarizeParams:
    """Tunables of `binarize`. Sizes are in stroke widths (`sw`) unless the name says pixels."""

    bilevel_tolerance: int = 2
    bilevel_share: float = 0.75
    min_contrast: float = 0.1
    first_pass_long_side: int = 1600
    work_stroke_px: float = 2.0
    background_strokes: float = 5.0
    background_shrink: int = 2
    candidate_fraction: float = 0.7
    ink_level_fraction: float = 0.5
    ink_percentile: float = 75.0
    edge_fraction: float = 0.8
    floor_fraction: float = 0.7
    local_strokes: float = 3.0
    noise_sigmas: float = 4.0
    noise_strokes: float = 10.0
    weak_fraction: float = 0.5
    weak_noise_sigmas: float = 3.0
    seed_strokes: float = 10.0
    rim_fraction: float = 0.5
    rim_strokes: float = 2.0
    speck_strokes: float = 0.5
    ghost_strokes: float = 1.0
    invert_long_side: int = 640
    invert_kernel: int = 15
    invert_strokes: float = 8.0
    invert_max_regions: int = 16
    invert_region_strokes: float = 30.0
    invert_min_fill: float = 0.65
    invert_min_contrast: int = 40


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


def _above(image: NDArray[Any], level: float) -> NDArray[Any]:
    """uint8 mask, 255 where `image` > `level`."""
    return (image > level).astype(np.uint8) * 255


def inverted_mask(small: NDArray[Any], sw: float, params: BinarizeParams) -> NDArray[Any]:
    """uint8 mask (255 = light-on-dark region) on the small working image (`sw` in its pixels).

    A block is inverted when its mean lies nearer its minimum than its maximum (mostly dark with some
    light) with enough contrast. The block is `invert_strokes` stroke widths wide (never below
    `invert_kernel` px), so dense or thick dark strokes do not look like a dark background.
    """
    k = odd(max(params.invert_kernel, params.invert_strokes * sw))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    local_max = cv2.dilate(small, kernel)
    local_min = cv2.erode(small, kernel)
    local_mean = cv2.blur(small, (k, k))
    above = cv2.subtract(local_max, local_mean)
    below = cv2.subtract(local_mean, local_min)
    contrast = cv2.subtract(local_max, local_min)
    inverted = cv2.compare(above, below, cv2.CMP_GT)
    _, strong = cv2.threshold(contrast, params.invert_min_contrast - 1, 255, cv2.THRESH_BINARY)
    mask = cv2.bitwise_and(inverted, strong)
    mask = cv2.medianBlur(mask, 5)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)


def _text_is_light(small: NDArray[Any], region: NDArray[Any]) -> bool:
    """Whether, inside `region` (uint8 mask), the light pixels form the thinner strokes (= the text)."""
    values = small[region > 0]
    hist = cv2.calcHist([values.reshape(-1, 1)], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    level = otsu_split(hist)[0]
    light = cv2.bitwise_and(_above(small, level), region)
    dark = cv2.bitwise_and(cv2.bitwise_not(_above(small, level)), region)
    light_width, dark_width = stroke_width(light), stroke_width(dark)
    return 0 < light_width < dark_width


def _fill_holes(mask: NDArray[Any]) -> NDArray[Any]:
    """`mask` with every hole closed (pixels not reachable from the border through the background)."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 255)
    holes = cv2.bitwise_not(flood)[1:-1, 1:-1]
    return cv2.bitwise_or(mask, holes)


def _repair_inverted(
    gray: NDArray[Any], first: NDArray[Any], sw: float, params: BinarizeParams
) -> NDArray[Any]:
    """Invert the light-on-dark regions of `gray`.

    A candidate region counts when it is large (at least `invert_region_strokes` stroke widths
    squared), box-like (it fills `invert_min_fill` of its bounding box: banners, table headers; a
    thick initial or a shadowed margin does not) and its light strokes are thinner than its dark ones.
    """
    h, w = gray.shape
    small = resize(first, scaled_size(first.shape, min(1.0, params.invert_long_side / max(first.shape))))
    sw_small = sw * small.shape[1] / w
    mask = inverted_mask(small, sw_small, params)
    if not cv2.countNonZero(mask):
        return gray
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = (params.invert_region_strokes * sw_small) ** 2
    keep = np.zeros(count, np.uint8)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[: params.invert_max_regions] + 1
    for label in order:
        x, y, bw, bh, area = (int(v) for v in stats[label])
        if area < min_area:
            break
        if area < params.invert_min_fill * bw * bh:
            continue
        region = (labels[y : y + bh, x : x + bw] == label).astype(np.uint8) * 255
        if _text_is_light(small[y : y + bh, x : x + bw], region):
            keep[label] = 255
    if not keep.any():
        return gray
    region = _fill_holes(keep[labels])
    inside = 255 - small[region > 0]
    outside = small[region == 0]
    paper_in = float(np.percentile(inside, 95)) if inside.size else 255.0
    paper_out = float(np.percentile(outside, 95)) if outside.size else 255.0
    # the inverted block's paper is brought to the page's paper level, so one background fits both
    flipped = cv2.convertScaleAbs(cv2.bitwise_not(gray), alpha=paper_out / max(paper_in, 1.0))
    full = cv2.resize(region, (w, h), interpolation=cv2.INTER_NEAREST)
    out = gray.copy()
    cv2.copyTo(flipped, full, out)
    return out


def bilevel_threshold(gray: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> float | None:
    """The halfway level of an already black-and-white page, or None when the page is not bilevel.

    Bilevel: the darkest and the lightest levels of the page (its 0.5 and 99.5 percentiles, within
    `bilevel_tolerance`) are its two most frequent levels on either side of the Otsu split, at least
    `min_contrast` apart, and together (within the same tolerance) hold `bilevel_share` of the
    pixels: the rest are the edges of a scanner's or renderer's blur. A shadow, a grey block or
    paper texture adds levels of its own and fails.
    """
    sample = np.ascontiguousarray(gray[::2]) if gray.shape[0] > 64 else gray
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    split = otsu_split(hist)[0]
    low = int(np.argmax(hist[: split + 1]))
    high = split + 1 + int(np.argmax(hist[split + 1 :])) if split < 255 else 255
    if high - low < 255 * params.min_contrast:
        return None
    cumulative = np.cumsum(hist) / hist.sum()
    darkest = int(np.searchsorted(cumulative, 0.005))
    lightest = int(np.searchsorted(cumulative, 0.995))
    tol = params.bilevel_tolerance
    if low > darkest + tol or high < lightest - tol:
        return None
    near = hist[max(0, low - tol) : low + tol + 1].sum() + hist[max(0, high - tol) : high + tol + 1].sum()
    if near < params.bilevel_share * hist.sum():
        return None
    return (low + high) / 2.0


def _shrink(gray: NDArray[Any], factor: int) -> NDArray[Any]:
    """`gray` reduced by an integer `factor` (area averaging; OpenCV's fast path for whole factors)."""
    if factor <= 1:
        return gray
    h, w = gray.shape
    return resize(gray, (max(8, w // factor), max(8, h // factor)))


def estimate_stroke_width(gray: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> float:
    """Typical stroke width of the page's ink in pixels (full resolution), from a first pass."""
    return _first_pass(gray, params)[0]


def _first_pass(gray: NDArray[Any], params: BinarizeParams) -> tuple[float, NDArray[Any]]:
    """(stroke width in full-resolution pixels, the first-pass copy it was measured on)."""
    h, w = gray.shape
    first = _shrink(gray, max(1, max(h, w) // params.first_pass_long_side))
    coarse = resize(first, scaled_size(first.shape, 0.125))
    background = closing_background(coarse, odd(min(coarse.shape) / 10))
    background = resize(background, (first.shape[1], first.shape[0]))
    dark = darkness(first, background)
    ink = _above(dark, otsu_level(dark))
    width = stroke_width(ink) * w / first.shape[1]
    return float(np.clip(width if width > 0 else 3.0, 1.0, max(h, w) / 20)), first


def _threshold_map(dark: NDArray[Any], sw: float, params: BinarizeParams) -> NDArray[Any]:
    """Per-pixel threshold on the working copy (sw in working pixels), hysteresis included."""
    level = otsu_level(dark)
    ink = dark[dark > level]
    if ink.size:
        level = max(level, params.ink_level_fraction * quantile(ink, params.ink_percentile / 100))
    level = max(level, params.min_contrast / 2)
    ones = np.ones((3, 3), np.uint8)
    jump = cv2.subtract(cv2.dilate(dark, ones), cv2.erode(dark, ones))
    edges = (jump > params.edge_fraction * level).astype(np.float32)
    window = (odd(params.local_strokes * sw),) * 2
    count = cv2.boxFilter(edges, -1, window, normalize=False)
    edge_mean = cv2.boxFilter(cv2.multiply(dark, edges), -1, window, normalize=False)
    edge_mean = edge_mean / np.maximum(count, 1.0)
    peak = cv2.dilate(dark, cv2.getStructuringElement(cv2.MORPH_RECT, window))
    edge_mean = cv2.max(edge_mean, params.ink_level_fraction * peak)
    local = np.clip(edge_mean, params.floor_fraction * level, level)
    threshold = np.full_like(dark, level)
    cv2.copyTo(local, (count >= window[0]).astype(np.uint8), threshold)
    mean, spread = _paper_stats(dark, threshold, sw, params)
    strong_threshold = cv2.max(threshold, cv2.scaleAdd(spread, params.noise_sigmas, mean))
    weak_threshold = cv2.max(
        params.weak_fraction * strong_threshold, cv2.scaleAdd(spread, params.weak_noise_sigmas, mean)
    )
    rim = cv2.getStructuringElement(cv2.MORPH_RECT, (odd(params.rim_strokes * sw),) * 2)
    weak_threshold = cv2.max(weak_threshold, params.rim_fraction * cv2.dilate(dark, rim))
    strong = cv2.compare(dark, strong_threshold, cv2.CMP_GT)
    weak = cv2.compare(dark, weak_threshold, cv2.CMP_GT)
    out: NDArray[Any] = strong_threshold.copy()
    kept = _reaching_ink(dark, strong, params.ghost_strokes * sw * sw)
    # strong marks that never reach real ink's darkness (bleed-through, stains) become paper
    out[cv2.subtract(strong, cv2.dilate(kept, np.ones((3, 3), np.uint8))) > 0] = 1.0
    strong = kept
    grown = _hysteresis(strong, weak, params.seed_strokes * sw * sw)
    cv2.copyTo(cv2.min(weak_threshold, strong_threshold), grown, out)
    return out


def _reaching_ink(dark: NDArray[Any], strong: NDArray[Any], min_area: float) -> NDArray[Any]:
    """uint8 mask (255) of the `strong` components that are real ink, not show-through.

    The darkness of the strong pixels splits (Otsu) into lighter and darker ink; a component of at
    least `min_area` pixels none of whose pixels is darker than the lighter class's mean is the ghost
    of the other side of the sheet, a stain or a shadow line, not writing. A faint stroke of real
    writing still holds pixels that dark (its fainter parts are grown back by the hysteresis); small
    marks (dots, commas, the thin bits of blurred small print) are left alone.
    """
    values = dark[strong > 0].reshape(-1, 1)
    if not values.size:
        return strong
    hist = cv2.calcHist([values], [0], None, [256], [0.0, 1.0 + 1e-6]).ravel().astype(np.float64)
    lighter_mean = otsu_split(hist)[2] / 256.0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    reaching = np.bincount(labels[(dark > lighter_mean) & (strong > 0)], minlength=count)
    keep = np.where((reaching > 0) | (stats[:, cv2.CC_STAT_AREA] < min_area), 255, 0).astype(np.uint8)
    keep[0] = 0
    out: NDArray[Any] = keep[labels]
    return out


def _hysteresis(strong: NDArray[Any], weak: NDArray[Any], min_seed: float) -> NDArray[Any]:
    """uint8 mask (255) of the `weak` components that hold at least `min_seed` `strong` pixels.

    A faint hairline or the soft end of a stroke joins the ink it continues; an isolated faint
    blot (bleed-through, grain), or one seeded only by a speck of noise, does not.
    """
    count, labels = cv2.connectedComponents(weak, connectivity=8, ltype=cv2.CV_32S)
    seeds = np.bincount(labels[strong > 0], minlength=count)
    keep = np.where(seeds >= max(1.0, min_seed), 255, 0).astype(np.uint8)
    keep[0] = 0
    out: NDArray[Any] = keep[labels]
    return out


def _paper_stats(
    dark: NDArray[Any], threshold: NDArray[Any], sw: float, params: BinarizeParams
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Local paper darkness (mean, std) over `noise_strokes` x sw, computed on a coarse copy."""
    paper = (dark <= threshold).astype(np.float32)
    sigma = max(1.0, params.noise_strokes * sw)
    factor = max(1, int(sigma / 2.0))
    size = (max(8, dark.shape[1] // factor), max(8, dark.shape[0] // factor))
    sigma_small = sigma * size[0] / dark.shape[1]
    weighted = cv2.multiply(dark, paper)
    planes = [paper, weighted, cv2.multiply(weighted, dark)]
    support, first, second = (cv2.GaussianBlur(resize(p, size), (0, 0), sigma_small) for p in planes)
    support = np.maximum(support, 1e-3)
    mean = (first / support).astype(np.float32)
    spread = np.sqrt(np.maximum(second / support - mean * mean, 0.0)).astype(np.float32)
    full = (dark.shape[1], dark.shape[0])
    return resize(mean, full), resize(spread, full)


def _background(work: NDArray[Any], sw: float, params: BinarizeParams) -> NDArray[Any]:
    """Paper background of the working copy: closing estimate, then push-pull over the ink.

    The paper varies slowly, so it is estimated on a copy `background_shrink` times smaller (strokes
    about 1 px wide there) and interpolated back up.
    """
    factor = max(1, int(params.background_shrink))
    small = _shrink(work, factor) if min(work.shape) >= 64 * factor else work
    sw_small = sw * small.shape[1] / work.shape[1]
    first = closing_background(small, odd(params.background_strokes * sw_small))
    dark = darkness(small, first)
    candidates = _above(dark, params.candidate_fraction * otsu_level(dark))
    candidates = cv2.dilate(candidates, np.ones((3, 3), np.uint8))
    weights = (candidates == 0).astype(np.float32)
    sigma = max(1.0, sw_small)
    values = cv2.GaussianBlur(cv2.multiply(small.astype(np.float32), weights), (0, 0), sigma)
    support = cv2.GaussianBlur(weights, (0, 0), sigma)
    background = push_pull(values / np.maximum(support, 1e-6), support)
    background = resize(np.maximum(background, 1.0), (work.shape[1], work.shape[0]))
    return background


def _working_copy(gray: NDArray[Any], params: BinarizeParams) -> tuple[NDArray[Any], float, NDArray[Any]]:
    """(page with inverted blocks repaired, stroke width in page pixels, copy at the working scale).

    The first pass is reused as the working copy when both scales agree.
    """
    sw, first = _first_pass(gray, params)
    repaired = _repair_inverted(gray, first, sw, params)
    if repaired is not gray:
        gray, first = repaired, resize(repaired, (first.shape[1], first.shape[0]))
    factor = max(1, round(sw / params.work_stroke_px))
    first_factor = max(1, round(gray.shape[1] / first.shape[1]))
    work = first if factor == first_factor else _shrink(gray, factor)
    return gray, sw, work


def flatten(image: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> NDArray[Any]:
    """Contrast correction: the grey page divided by its paper background, stretched to full range.

    Light-on-dark blocks are inverted first (as in `binarize`), then I / B removes uneven light,
    shadows, stains and coloured paper, and the darkest 0.5 % is mapped to black, so faded ink
    regains its contrast. Grey levels are kept (no thresholding): returns (H, W) uint8.
    """
    if image.size == 0:
        raise ValueError("empty image")
    gray = to_gray(image)
    gray, sw, work = _working_copy(gray, params)
    h, w = gray.shape
    background = resize(_background(work, sw * work.shape[1] / w, params), (w, h))
    flat = cv2.divide(gray.astype(np.float32), background, scale=255.0)
    flat = np.clip(flat, 0.0, 255.0, out=flat)
    low = 255.0 * quantile(flat / 255.0, 0.005)
    gain = 255.0 / max(255.0 - low, 1.0)
    out: NDArray[Any] = cv2.convertScaleAbs(flat, alpha=gain, beta=-low * gain)
    return out


def binarize(image: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> NDArray[Any]:
    """Binarize a page image: returns (H, W) uint8 with ink 0 and paper 255, same size as the input.

    Text in light-on-dark regions comes out dark on white like the rest; an already black-and-white
    page comes back as it is. Raises ValueError on an empty image or an unsupported shape.
    """
    if image.size == 0:
        raise ValueError("empty image")
    gray = to_gray(image)
    bilevel = bilevel_threshold(gray, params)
    if bilevel is not None:
        return cv2.threshold(gray, bilevel, 255, cv2.THRESH_BINARY)[1]
    gray, sw, work = _working_copy(gray, params)
    h, w = gray.shape
    sw_work = sw * work.shape[1] / w
    background = _background(work, sw_work, params)
    dark_work = darkness(work, background)
    ones = np.ones((3, 3), np.uint8)
    jump = cv2.subtract(cv2.dilate(dark_work, ones), cv2.erode(dark_work, ones))
    if quantile(jump, 0.999) < params.min_contrast:
        return np.full((h, w), 255, np.uint8)
    threshold = _threshold_map(dark_work, sw_work, params)
    # D > T  <=>  I < B (1 - T): compare the grey image with a grey-level gate
    gate = cv2.multiply(background, 1.0 - threshold)
    gate = np.clip(gate, 0, 255).astype(np.uint8)
    out: NDArray[Any] = cv2.compare(gray, resize(gate, (w, h)), cv2.CMP_GE)
    return despeckle(out, params.speck_strokes * sw * sw)


def despeckle(binary: NDArray[Any], max_area: float) -> NDArray[Any]:
    """`binary` (ink 0, paper 255) without the ink specks smaller than `max_area` pixels.

    The binarizer passes half a stroke width squared: a full stop, a comma or an i's dot is about a
    stroke wide both ways and stays; grains of pepper go. (Paper specks inside ink are left: filling
    them closes the counters of blurred small text.) A page with hardly any lone ink pixel (fewer
    than 1 in 10,000) has no grain, and the labelling pass is skipped.
    """
    if max_area <= 1.0:
        return binary
    ink = cv2.bitwise_not(binary)
    neighbours = cv2.boxFilter(ink, cv2.CV_16U, (3, 3), normalize=False)
    lone = np.count_nonzero((neighbours == 255) & (ink > 0))
    if lone * 10_000 < binary.size:
        return binary
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False
    if not small.any():
        return binary
    out = binary.copy()
    out[small[labels]] = 255
    return out
