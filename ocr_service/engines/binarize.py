"""Document binarization whose every window is sized from the page's own stroke width.

Method (see the README's binarization section for the measurements behind each step):

1. grayscale (luma), smoothed first when it was decoded from a strongly compressed JPEG (`deblock`;
   the caller passes the file's quality). A page that is already black and white (its darkest and
   lightest levels are its two dominant ones and hold most pixels, see `bilevel_threshold`) is
   thresholded halfway between them and returned: a clean scan comes back unchanged. A page of
   flat paper and soft-edged marks (a black-and-white scan blurred by optics, a clean render) is
   cut against each pixel's local peak when its edges are sharp, and deconvolved first when they
   are soft, unless it was upsampled from a lower resolution (`flat.flat_paper_binarize`).
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
   * hysteresis: weak pixels above the rim fraction of the nearby peak (half on sharp edges, 40 %
     on soft ones, from the measured edge sharpness) that connect to strong ink are kept;
   the comparison is done at full resolution as I < B (1 - T) against the upsampled grey-level gate.
   The threshold map is in `threshold.py`, on 8-bit darkness; it and the comparison run in
   overlapping row bands on a thread pool (`tiles.py`), as do the darkness and the page statistics
   it starts from (`darkness.py`); independent steps (the inverted-region copy, the sheet search,
   the background) run side by side on the same pool (`_working_copy`).
7. a phone photo of a sheet (`perspective.find_page`, looked for on the first-pass copy; a no-op on
   scans) is deconvolved from its lens blur before step 5 (`_deblurred_photo`), and keeps only the
   sheet's text: the desk around it and the dark rim along the sheet's edge come out as paper, the
   geometry unchanged (warping is `DeskewImage`'s job).

All arithmetic is done by OpenCV calls on uint8/uint16/float32 buffers; no per-pixel Python loops.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from ocr_service.engines.darkness import darkness_and_stats
from ocr_service.engines.flat import blur_sigma, deblur, flat_paper_binarize, upsampled
from ocr_service.engines.flat import sharpness as flat_sharpness
from ocr_service.engines.perspective import clear_outside_sheet, find_page
from ocr_service.engines.scale import (
    closing_background,
    odd,
    otsu_split,
    push_pull,
    quantile,
    resize,
    scaled_size,
    stroke_width,
)
from ocr_service.engines.scale import (
    to_gray as to_gray,  # re-exported: the callers take the luma from here
)
from ocr_service.engines.threshold import (
    FULL,
    darkness8,
    hist_quantile,
    histogram,
    page_histogram,
    rim_fraction,
    sample_rows,
    threshold_map,
)
from ocr_service.engines.tiles import run_rows, submit


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
    rim_soft_fraction: float = 0.4
    edge_sharp: float = 0.97
    edge_soft: float = 0.9
    rim_strokes: float = 2.0
    speck_strokes: float = 0.5
    ghost_strokes: float = 1.5
    invert_long_side: int = 640
    invert_kernel: int = 15
    invert_strokes: float = 8.0
    invert_max_regions: int = 16
    invert_region_strokes: float = 30.0
    invert_min_fill: float = 0.65
    invert_min_contrast: int = 40
    flat_tolerance: float = 0.04
    flat_paper_share: float = 0.6
    flat_halo_px: int = 3
    flat_max_stray: float = 0.001
    flat_max_half_stroke_px: int = 12
    flat_peak_fraction: float = 0.5
    flat_blur_gain: float = 0.5
    flat_max_peak_fraction: float = 0.7
    flat_min_sharpness: float = 0.95
    deblur_iterations: int = 20
    deblur_min_sharpness: float = 0.3
    deblur_cut: float = 0.43
    upsampled_peak: float = 40.0
    photo_deblur: bool = True
    photo_max_sharpness: float = 0.9
    sheet_only: bool = True
    tile_margin_px: int = 64
    tile_margin_strokes: float = 32.0
    deblock_below_quality: int = 50
    deblock_sigma_px: float = 0.7


DEFAULT_PARAMS = BinarizeParams()


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


def _invert_copy(first: NDArray[Any], params: BinarizeParams) -> NDArray[Any]:
    """The copy of the first-pass image the light-on-dark regions are looked for on."""
    return resize(first, scaled_size(first.shape, min(1.0, params.invert_long_side / max(first.shape))))


def _repair_inverted(
    gray: NDArray[Any],
    first: NDArray[Any],
    sw: float,
    params: BinarizeParams,
    small: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Invert the light-on-dark regions of `gray` (`small`: `_invert_copy(first)`, when at hand).

    A candidate region counts when it is large (at least `invert_region_strokes` stroke widths
    squared), box-like (it fills `invert_min_fill` of its bounding box: banners, table headers; a
    thick initial or a shadowed margin does not) and its light strokes are thinner than its dark ones.
    """
    h, w = gray.shape
    small = _invert_copy(first, params) if small is None else small
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


def bilevel_threshold(
    gray: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS, hist: NDArray[np.float64] | None = None
) -> float | None:
    """The halfway level of an already black-and-white page, or None when the page is not bilevel.

    Bilevel: the darkest and the lightest levels of the page (its 0.5 and 99.5 percentiles, within
    `bilevel_tolerance`) are its two most frequent levels on either side of the Otsu split, at least
    `min_contrast` apart, and together (within the same tolerance) hold `bilevel_share` of the
    pixels: the rest are the edges of a scanner's or renderer's blur. A shadow, a grey block or
    paper texture adds levels of its own and fails. `hist`: `page_histogram(gray)`, when at hand.
    """
    hist = page_histogram(gray) if hist is None else hist
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


def _shrink_coarse(gray: NDArray[Any], factor: int) -> NDArray[Any]:
    """`gray` reduced by a whole `factor`, its last partial block of rows/columns left out.

    Whole blocks take OpenCV's fast area averaging; for coarse estimates (a background, a region
    map) the rows/columns left out (fewer than `factor`) do not matter.
    """
    h, w = gray.shape
    if factor <= 1 or min(h, w) < 8 * factor:
        return _shrink(gray, factor)
    return resize(gray[: h // factor * factor, : w // factor * factor], (w // factor, h // factor))


def estimate_stroke_width(gray: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> float:
    """Typical stroke width of the page's ink in pixels (full resolution), from a first pass."""
    return _first_pass(gray, params)[0]


def _first_copy(gray: NDArray[Any], params: BinarizeParams) -> NDArray[Any]:
    """The page reduced to about `first_pass_long_side` (by a whole factor): the first pass's copy."""
    return _shrink(gray, max(1, max(gray.shape) // params.first_pass_long_side))


def _first_pass(
    gray: NDArray[Any], params: BinarizeParams, first: NDArray[Any] | None = None
) -> tuple[float, NDArray[Any]]:
    """(stroke width in full-resolution pixels, the first-pass copy it was measured on).

    `first`: `_first_copy(gray)`, when at hand.
    """
    h, w = gray.shape
    first = _first_copy(gray, params) if first is None else first
    coarse = _shrink_coarse(first, 8)
    background = closing_background(coarse, odd(min(coarse.shape) / 10)).astype(np.uint8)
    background = resize(background, (first.shape[1], first.shape[0]))
    # Otsu on the darkness of a sample of rows; then ink = D > t  <=>  I <= B (1 - t) on the page
    level = otsu_split(histogram(darkness8(sample_rows(first), sample_rows(background).astype(np.float32))))[
        0
    ]
    gate = cv2.convertScaleAbs(background, alpha=1.0 - (level + 0.5) / FULL, beta=-0.5)
    ink = cv2.compare(first, gate, cv2.CMP_LE)
    width = stroke_width(ink) * w / first.shape[1]
    return float(np.clip(width if width > 0 else 3.0, 1.0, max(h, w) / 20)), first


def _background(work: NDArray[Any], sw: float, params: BinarizeParams) -> NDArray[Any]:
    """Paper background of the working copy: closing estimate, then push-pull over the ink.

    The paper varies slowly, so it is estimated on a copy `background_shrink` times smaller (strokes
    about 1 px wide there) and interpolated back up.
    """
    factor = max(1, int(params.background_shrink))
    small = _shrink(work, factor) if min(work.shape) >= 64 * factor else work
    sw_small = sw * small.shape[1] / work.shape[1]
    first = closing_background(small, odd(params.background_strokes * sw_small))
    dark = darkness8(small, first)
    candidates = _above(dark, params.candidate_fraction * (otsu_split(histogram(dark))[0] + 0.5))
    candidates = cv2.dilate(candidates, np.ones((3, 3), np.uint8))
    weights = (candidates == 0).astype(np.float32)
    sigma = max(1.0, sw_small)
    values = cv2.GaussianBlur(cv2.multiply(small.astype(np.float32), weights), (0, 0), sigma)
    support = cv2.GaussianBlur(weights, (0, 0), sigma)
    background = push_pull(values / np.maximum(support, 1e-6), support)
    background = resize(np.maximum(background, 1.0), (work.shape[1], work.shape[0]))
    return background


class _Working(NamedTuple):
    """What `_working_copy` prepares: the page (inverted blocks repaired), its stroke width in page
    pixels, the copy at the working scale, the first-pass copy, the working copy's paper
    background (`_background`) and, when asked for, the photographed sheet's corners (`_sheet`)."""

    gray: NDArray[Any]
    sw: float
    work: NDArray[Any]
    first: NDArray[Any]
    background: Future[NDArray[Any]]
    sheet: Future[NDArray[np.float32] | None] | None


def _working_copy(gray: NDArray[Any], params: BinarizeParams, *, sheet: bool = False) -> _Working:
    """The working copies of `gray`, its stroke width and the jobs that depend on them only.

    The first pass is reused as the working copy when both scales agree. Independent steps run on
    the thread pool next to each other (`tiles.submit`): the copy the light-on-dark regions are
    looked for on starts as soon as the first-pass copy exists, next to the stroke-width
    measurement; the paper background starts once the stroke width is known, next to the
    light-on-dark repair; the sheet search (on the repaired copy) once the repair is done, next
    to the background, when the stroke-width bands no longer need the pool. A page whose blocks
    were inverted (rare) has its background done again on its repaired copy.
    """
    first = _first_copy(gray, params)
    small = submit(_invert_copy, first, params)
    sw, _ = _first_pass(gray, params, first)
    work = _work_copy(gray, first, sw, params)
    background = submit(_background, work, sw * work.shape[1] / gray.shape[1], params)
    repaired = _repair_inverted(gray, first, sw, params, small.result())
    if repaired is not gray:
        gray, first = repaired, resize(repaired, (first.shape[1], first.shape[0]))
        background.result()
        work = _work_copy(gray, first, sw, params)
        background = submit(_background, work, sw * work.shape[1] / gray.shape[1], params)
    found = submit(_sheet, first, gray.shape) if sheet else None
    return _Working(gray, sw, work, first, background, found)


def _work_copy(gray: NDArray[Any], first: NDArray[Any], sw: float, params: BinarizeParams) -> NDArray[Any]:
    """`gray` at the working scale (strokes about `work_stroke_px` wide); `first` when it is that."""
    factor = max(1, round(sw / params.work_stroke_px))
    first_factor = max(1, round(gray.shape[1] / first.shape[1]))
    return first if factor == first_factor else _shrink(gray, factor)


def _sheet(first: NDArray[Any], shape: tuple[int, ...]) -> NDArray[np.float32] | None:
    """Corners (page pixels) of a photographed sheet, looked for on the first-pass copy, or None."""
    corners = find_page(first)
    if corners is None:
        return None
    scale = np.array([shape[1] / first.shape[1], shape[0] / first.shape[0]], np.float32)
    out: NDArray[np.float32] = corners * scale
    return out


def _deblurred_photo(
    gray: NDArray[Any], background: NDArray[Any], params: BinarizeParams
) -> NDArray[Any] | None:
    """A photographed page deconvolved from its optics' blur, or None when it is sharp enough.

    A phone camera's lens and demosaicing, and the perspective's resampling, soften every edge:
    thin strokes spread and close ones merge ("rn" read as "m"). The page's darkness below its
    paper background (`background`, at the working scale) is deconvolved (`flat.deblur`, sigma
    read from the edge sharpness at full resolution by `flat.blur_sigma`) and put back under the
    same background. Sharp pages (from `photo_max_sharpness`), very soft ones (below
    `deblur_min_sharpness`) and pages upsampled from a lower resolution are left as they are.
    """
    h, w = gray.shape
    paper = cv2.convertScaleAbs(resize(background, (w, h)))
    below = cv2.subtract(paper, gray)
    contrast = int(hist_quantile(histogram(sample_rows(below)), 0.995))
    if contrast < FULL * params.min_contrast:
        return None
    edge = flat_sharpness(below, cv2.dilate(below, np.ones((5, 5), np.uint8)), contrast)
    if not params.deblur_min_sharpness <= edge < params.photo_max_sharpness or upsampled(gray, params):
        return None
    out: NDArray[Any] = cv2.subtract(paper, deblur(below, blur_sigma(edge), params.deblur_iterations))
    return out


def flatten(image: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS) -> NDArray[Any]:
    """Contrast correction: the grey page divided by its paper background, stretched to full range.

    Light-on-dark blocks are inverted first (as in `binarize`), then I / B removes uneven light,
    shadows, stains and coloured paper, and the darkest 0.5 % is mapped to black, so faded ink
    regains its contrast. Grey levels are kept (no thresholding): returns (H, W) uint8.
    """
    if image.size == 0:
        raise ValueError("empty image")
    gray = to_gray(image)
    prepared = _working_copy(gray, params)
    gray = prepared.gray
    h, w = gray.shape
    background = resize(prepared.background.result(), (w, h))
    flat = cv2.divide(gray.astype(np.float32), background, scale=255.0)
    flat = np.clip(flat, 0.0, 255.0, out=flat)
    low = 255.0 * quantile(flat / 255.0, 0.005)
    gain = 255.0 / max(255.0 - low, 1.0)
    out: NDArray[Any] = cv2.convertScaleAbs(flat, alpha=gain, beta=-low * gain)
    return out


def deblock(
    image: NDArray[Any], jpeg_quality: int | None, params: BinarizeParams = DEFAULT_PARAMS
) -> NDArray[Any]:
    """`image` smoothed against JPEG blocking and ringing when it was decoded from a JPEG whose
    estimated quality (`requests_model.jpeg_quality`) is below `deblock_below_quality`: a Gaussian
    of `deblock_sigma_px`, in the JPEG's own pixels. Any other image (`jpeg_quality` None, or a
    higher quality) is returned as it is, the same object.
    """
    if jpeg_quality is None or jpeg_quality >= params.deblock_below_quality:
        return image
    out: NDArray[Any] = cv2.GaussianBlur(image, (0, 0), params.deblock_sigma_px)
    return out


def binarize(
    image: NDArray[Any], params: BinarizeParams = DEFAULT_PARAMS, *, jpeg_quality: int | None = None
) -> NDArray[Any]:
    """Binarize a page image: returns (H, W) uint8 with ink 0 and paper 255, same size as the input.

    Text in light-on-dark regions comes out dark on white like the rest; an already black-and-white
    page comes back as it is; around a photographed sheet everything is paper. `jpeg_quality` is
    the estimated quality of the JPEG the image was decoded from (None: not a JPEG, or not known);
    a strongly compressed one is smoothed first (`deblock`). Raises ValueError on an empty image or
    an unsupported shape.
    """
    if image.size == 0:
        raise ValueError("empty image")
    gray = deblock(to_gray(image), jpeg_quality, params)
    hist = page_histogram(gray)
    bilevel = bilevel_threshold(gray, params, hist)
    if bilevel is not None:
        return cv2.threshold(gray, bilevel, 255, cv2.THRESH_BINARY)[1]
    flat = flat_paper_binarize(gray, params, hist)
    if flat is not None:
        return flat
    gray, sw, work, _, background_job, sheet_job = _working_copy(gray, params, sheet=params.sheet_only)
    h, w = gray.shape
    sw_work = sw * work.shape[1] / w
    background = background_job.result()
    sheet = None if sheet_job is None else sheet_job.result()
    if sheet is not None and params.photo_deblur:
        sharp = _deblurred_photo(gray, background, params)
        if sharp is not None:
            gray = sharp
            work = _shrink(gray, max(1, round(w / work.shape[1])))
    dark_work, jump, stats = darkness_and_stats(work, background, sw_work, params)
    if stats.contrast < FULL * params.min_contrast:
        return np.full((h, w), 255, np.uint8)
    level = stats.level
    rim = rim_fraction(stats.sharpness, params)
    max_speck = params.speck_strokes * sw * sw

    def decide(rows: slice, out_rows: slice) -> NDArray[Any]:
        threshold = threshold_map(dark_work[rows], sw_work, params, level=level, jump=jump[rows], rim=rim)
        # D > T  <=>  I < B (1 - T): compare the grey image with a grey-level gate
        paper = background[rows]
        gate = cv2.subtract(
            paper, cv2.multiply(paper, threshold, scale=1.0 / FULL, dtype=cv2.CV_32F), dtype=cv2.CV_8U
        )
        page = gray[out_rows]
        return despeckle(cv2.compare(page, resize(gate, (w, page.shape[0])), cv2.CMP_GE), max_speck)

    out = np.empty((h, w), np.uint8)
    margin = round(max(params.tile_margin_px, params.tile_margin_strokes * sw_work))
    run_rows(dark_work.shape[0], out, margin, decide, min_band=4 * margin)
    return out if sheet is None else clear_outside_sheet(out, sheet)


def despeckle(binary: NDArray[Any], max_area: float) -> NDArray[Any]:
    """`binary` (ink 0, paper 255) without the ink specks smaller than `max_area` pixels.

    The binarizer passes half a stroke width squared: a full stop, a comma or an i's dot is about a
    stroke wide both ways and stays; grains of pepper go. (Paper specks inside ink are left: filling
    them closes the counters of blurred small text.) A page with hardly any lone ink pixel (fewer
    than 1 in 10,000) has no grain, and the labelling pass is skipped.
    """
    if max_area <= 1.0:
        return binary
    ring = np.ones((3, 3), np.uint8)
    ring[1, 1] = 0
    # a lone ink pixel: ink (0) whose eight neighbours are all paper (their minimum is 255)
    lone = cv2.countNonZero(cv2.compare(cv2.erode(binary, ring), binary, cv2.CMP_GT))
    if lone * 10_000 < binary.size:
        return binary
    ink = cv2.bitwise_not(binary)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False
    if not small.any():
        return binary
    out = binary.copy()
    out[small[labels]] = 255
    return out
