"""Edge-aware parts of the binarizer: the rim cut follows the edges' sharpness; flat-paper pages."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from bench.corpus import make_page
from bench.metrics import f_measure
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize
from ocr_service.engines.flat import flat_paper_binarize, peak_fraction
from ocr_service.engines.threshold import darkness8, edge_sharpness, global_level, gradient8, rim_fraction


def _sharpness(gray: np.ndarray) -> float:  # type: ignore[type-arg]
    background = np.full(gray.shape, 240.0, np.float32)
    dark = darkness8(gray, background)
    return edge_sharpness(dark, gradient8(dark), 2.0, global_level(dark, DEFAULT_PARAMS), DEFAULT_PARAMS)


def test_edge_sharpness_is_high_on_a_clean_render_and_drops_with_blur() -> None:
    # GIVEN the same page rendered cleanly and blurred by optics (sigma 1.5 px)
    page = make_page(11, width=900, height=500, font="serif", font_px=28)
    clean = (240.0 * (1 - page.coverage) + 30.0 * page.coverage).astype(np.uint8)
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.5)
    # WHEN their edge sharpness is measured
    sharp, soft = _sharpness(clean), _sharpness(blurred)
    # THEN the clean edges reach nearly full contrast within the 3x3 jump, the blurred ones do not
    assert sharp > 0.95
    assert soft < 0.85


def test_rim_cut_goes_from_half_the_peak_on_sharp_edges_to_the_soft_fraction_on_soft_ones() -> None:
    # GIVEN the defaults WHEN the rim fraction is taken at both ends and in between
    p = DEFAULT_PARAMS
    # THEN it is the sharp value above edge_sharp, the soft one below edge_soft, linear between
    assert rim_fraction(1.0, p) == pytest.approx(p.rim_fraction)
    assert rim_fraction(0.5, p) == pytest.approx(p.rim_soft_fraction)
    middle = rim_fraction((p.edge_sharp + p.edge_soft) / 2, p)
    assert middle == pytest.approx((p.rim_fraction + p.rim_soft_fraction) / 2)


@pytest.mark.parametrize(("font", "px"), [("sans", 12), ("serif", 16)])
def test_scanned_black_and_white_page_comes_back_unchanged(font: str, px: int) -> None:
    # GIVEN small black-and-white text blurred by a scanner's optics (sigma 0.7 px)
    page = make_page(2000, width=1000, height=700, font=font, font_px=px)
    original = np.where(page.ink, 0, 255).astype(np.uint8)
    scanned = cv2.GaussianBlur(original, (0, 0), 0.7)
    # WHEN binarized
    out = binarize(scanned)
    # THEN it comes back as the black-and-white original (deconvolved: 99.9 % of the pixels equal)
    assert float(np.mean(out == original)) >= 0.999


def test_flat_paper_path_deblurs_scans_and_soft_pages_closer_to_the_ink_than_the_full_way() -> None:
    # GIVEN a clean page on flat paper, blurred by sigma 0.7 px (a scan) and by 1.2 px (soft)
    page = make_page(12, width=1000, height=700, font="sans", font_px=18)
    clean = (245.0 * (1 - page.coverage) + 20.0 * page.coverage).astype(np.uint8)
    scan, soft = cv2.GaussianBlur(clean, (0, 0), 0.7), cv2.GaussianBlur(clean, (0, 0), 1.2)
    # WHEN the flat-paper path runs on both
    out = flat_paper_binarize(scan, DEFAULT_PARAMS)
    full = binarize(scan, replace(DEFAULT_PARAMS, flat_paper_share=1.1))
    # THEN the scan's strokes keep their shape better than by the full way
    assert out is not None
    assert f_measure(out == 0, page.ink) > max(95.0, f_measure(full == 0, page.ink))
    # AND the soft page is deconvolved before its cut, its ink closer to the truth than the full way
    deblurred = flat_paper_binarize(soft, DEFAULT_PARAMS)
    soft_full = binarize(soft, replace(DEFAULT_PARAMS, flat_paper_share=1.1))
    assert deblurred is not None
    assert f_measure(deblurred == 0, page.ink) > f_measure(soft_full == 0, page.ink) + 5.0
    # AND the cut rises with blur: half the peak on sharp edges, more on soft ones
    assert peak_fraction(1.0, DEFAULT_PARAMS) == pytest.approx(0.5)
    assert 0.55 < peak_fraction(0.8, DEFAULT_PARAMS) < 0.65


@pytest.mark.parametrize("kind", ["grain", "shadow", "dark block"])
def test_flat_paper_path_refuses_textured_shadowed_or_blocky_pages(kind: str) -> None:
    # GIVEN a clean page spoiled by paper grain, a shadow, or a solid dark block
    page = make_page(13, width=800, height=600, font="sans", font_px=20)
    image = 245.0 * (1 - page.coverage) + 20.0 * page.coverage
    if kind == "grain":
        image = image + np.random.default_rng(0).normal(0.0, 6.0, image.shape)
    elif kind == "shadow":
        image = image * np.linspace(0.7, 1.0, image.shape[1])[None, :]
    else:
        image[100:300, 100:400] = 20.0
    gray = image.clip(0, 255).astype(np.uint8)
    # WHEN the flat-paper test runs THEN it declines (the full binarizer handles the page)
    assert flat_paper_binarize(gray, DEFAULT_PARAMS) is None


def test_flat_paper_path_accepts_a_clean_render() -> None:
    # GIVEN a clean anti-aliased render on flat paper
    page = make_page(13, width=800, height=600, font="sans", font_px=20)
    gray = (245.0 * (1 - page.coverage) + 20.0 * page.coverage).astype(np.uint8)
    # WHEN the flat-paper test runs THEN it binarizes the page, matching the ink
    out = flat_paper_binarize(gray, DEFAULT_PARAMS)
    assert out is not None
    assert f_measure(out == 0, page.ink) > 98.0
    # AND with the test disabled (share above 1) the full binarizer is used instead
    assert flat_paper_binarize(gray, replace(DEFAULT_PARAMS, flat_paper_share=1.1)) is None
