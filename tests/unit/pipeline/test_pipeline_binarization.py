"""The auto mode's decision from image statistics."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from bench.corpus import degrade, make_page
from ocr_pipeline.domain.binarization import (
    BILEVEL_SHARE,
    DARK_BACKGROUND_FRACTION,
    LOW_SHARPNESS,
    SHEET_BORDER,
    UPSAMPLED_INTERPOLATION,
    ImageStats,
    decide_binarization,
    image_stats,
)


@pytest.fixture(scope="module")
def clean_page() -> np.ndarray:
    page: np.ndarray = make_page(5, width=640, height=400, font_px=22).image
    return page


def _decide(pixels: np.ndarray) -> tuple[bool, str]:
    decision = decide_binarization(image_stats(Image.fromarray(pixels)))
    return decision.binarize, decision.reason


def test_decide_clean_page_skips_binarization(clean_page: np.ndarray) -> None:
    # GIVEN a clean black-on-white page / WHEN decided / THEN no binarization is needed
    assert _decide(clean_page)[0] is False


def test_decide_uneven_illumination_binarizes(clean_page: np.ndarray) -> None:
    # GIVEN the page under uneven light
    page = make_page(5, width=640, height=400, font_px=22)
    shaded = degrade(page, "uneven_illumination", 5).image
    # WHEN decided / THEN binarization is chosen for the illumination
    assert _decide(shaded) == (True, "uneven_illumination")


def test_decide_colored_paper_binarizes() -> None:
    # GIVEN text on saturated yellow paper
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[:] = (240, 220, 60)
    pixels[80:120, 40:260] = (20, 20, 20)
    # WHEN decided / THEN binarization is chosen
    assert _decide(pixels)[0] is True


def test_decide_dark_background_skips_binarization() -> None:
    # GIVEN light text on a dark, slightly noisy background
    rng = np.random.default_rng(3)
    base = np.full((200, 300), 40.0)
    base[80:100, 40:260] = 210.0
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    # WHEN decided / THEN the image is recognized as is
    assert _decide(pixels) == (False, "dark_background")


def test_decide_low_contrast_binarizes() -> None:
    # GIVEN faint gray text on light gray paper, evenly lit
    stats = ImageStats(
        contrast=0.2, separability=0.9, illumination_variation=0.01, saturation=0.0, dark_fraction=0.1
    )
    # WHEN decided / THEN binarization is chosen for the contrast
    assert decide_binarization(stats).reason == "low_contrast"


def test_image_stats_values_are_unit_interval(clean_page: np.ndarray) -> None:
    # GIVEN any page / WHEN measured / THEN every statistic lies in [0, 1]
    stats = image_stats(Image.fromarray(clean_page)).as_dict()
    assert all(0.0 <= value <= 1.0 for value in stats.values()), stats


def test_decide_grainy_page_binarizes_and_blurred_page_is_not_grainy() -> None:
    # GIVEN the same evenly lit page of text once with sensor grain and once only blurred
    rng = np.random.default_rng(5)
    page = np.full((300, 400), 235.0)
    for row in range(30, 280, 25):
        page[row : row + 6, 40:360] = 40.0
    grainy = np.clip(page + rng.normal(0, 20, page.shape), 0, 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(page.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5)))
    # WHEN measured and decided
    grain = image_stats(Image.fromarray(grainy))
    smooth = image_stats(Image.fromarray(blurred))
    # THEN grain is measured on the grainy page only, and that page is binarized for it
    assert grain.noise >= 0.02
    assert smooth.noise < 0.005
    assert decide_binarization(grain).reason == "noisy"


def _soft(pixels: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(sigma)))


def test_image_stats_sharpness_separates_blurred_from_sharp_page(clean_page: np.ndarray) -> None:
    # GIVEN the same generated page of text sharp and blurred by a 1.3 px Gaussian
    blurred = _soft(clean_page, 1.3)
    # WHEN measured
    sharp_stats, soft_stats = image_stats(Image.fromarray(clean_page)), image_stats(Image.fromarray(blurred))
    # THEN the sharp page's edges score near 1, the blurred page's well below the threshold, and
    # neither is taken for a page upsampled from a lower resolution
    assert sharp_stats.sharpness >= 0.95
    assert soft_stats.sharpness < LOW_SHARPNESS - 0.05
    assert max(sharp_stats.interpolation, soft_stats.interpolation) < UPSAMPLED_INTERPOLATION


def test_decide_blurred_page_binarizes(clean_page: np.ndarray) -> None:
    # GIVEN a page of text blurred by a 1.3 px Gaussian, otherwise clean and evenly lit
    blurred = _soft(clean_page, 1.3)
    # WHEN decided / THEN it is binarized for its soft edges (the binarizer deconvolves it)
    assert _decide(blurred) == (True, "blurred")


def test_image_stats_interpolation_flags_a_page_upsampled_from_lower_resolution() -> None:
    # GIVEN a 1000 px page interpolated up from 40-50 % of its resolution (narrower windows hold
    # fewer periods, and the line stands out less)
    page = make_page(5, width=1000, height=700, font_px=22)
    upsampled = degrade(page, "low_resolution", 5).image
    # WHEN measured
    stats = image_stats(Image.fromarray(upsampled))
    # THEN its edges are soft, but the interpolation's period marks it, so it is not "blurred"
    assert stats.sharpness < LOW_SHARPNESS
    assert stats.interpolation >= UPSAMPLED_INTERPOLATION
    assert decide_binarization(stats).reason != "blurred"


def test_decide_soft_edges_binarize_only_when_not_interpolated() -> None:
    # GIVEN clean, well separated statistics with soft edges, once from blur, once from upsampling
    base = ImageStats(
        contrast=0.9, separability=0.95, illumination_variation=0.0, saturation=0.0, dark_fraction=0.1
    )
    blurred = replace(base, sharpness=LOW_SHARPNESS - 0.1, interpolation=0.8)
    upsampled = replace(blurred, interpolation=0.99)
    # WHEN decided / THEN only the blurred page is binarized for its edges
    assert decide_binarization(blurred).reason == "blurred"
    assert decide_binarization(upsampled).reason == "clean"
    assert decide_binarization(base).reason == "clean"


def test_image_stats_sharpness_is_read_on_a_bounded_window() -> None:
    # GIVEN a 3000 x 2000 page with blurred text only in its centre
    page = np.full((2000, 3000), 240, np.uint8)
    for row in range(700, 1300, 40):
        page[row : row + 8, 1100:1900] = 30
    page = _soft(page, 1.5)
    # WHEN measured / THEN the centre's soft edges are found at the page's own resolution
    assert image_stats(Image.fromarray(page)).sharpness < LOW_SHARPNESS


def _on_desk(page: np.ndarray, margin: float) -> np.ndarray:
    """`page` photographed on a darker desk: a frame `margin` of the page larger on each side, the
    sheet's corners pulled in unevenly (perspective), light falling off, the optics' blur."""
    h, w = page.shape[:2]
    mx, my = round(margin * w), round(margin * h)
    fw, fh = w + 2 * mx, h + 2 * my
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    pull = np.array([[0.2, 0.5], [-0.6, 0.1], [-0.3, -0.7], [0.5, -0.2]], np.float32)
    moved = corners + np.array([mx, my], np.float32) + pull * np.array([mx, my], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, moved)
    sheet = cv2.warpPerspective(page, matrix, (fw, fh), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (fw, fh)) > 127
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    desk = 100.0 + 20.0 * xx / fw
    light = 1.0 - 0.15 * (xx / fw) * (yy / fh)
    photo = np.where(inside[:, :, None], sheet * light[:, :, None], desk[:, :, None])
    return _soft(np.clip(photo, 0, 255).astype(np.uint8), 0.6)


def test_decide_photographed_sheet_is_recognized_as_it_is(clean_page: np.ndarray) -> None:
    # GIVEN a phone photo of the page whose desk shows along every side but covers a small share of
    # the frame (so the page is not mostly dark), with soft edges and light falling off
    photo = _on_desk(clean_page, 0.06)
    stats = image_stats(Image.fromarray(photo))
    assert stats.dark_fraction < DARK_BACKGROUND_FRACTION
    # WHEN decided / THEN it is recognized as it is, for being a photographed sheet
    assert stats.sheet_border >= SHEET_BORDER
    assert decide_binarization(stats).reason == "photographed_sheet"
    assert decide_binarization(replace(stats, sheet_border=0.0)).binarize is True


@pytest.mark.parametrize("degradation", ["uneven_illumination", "shadow", "stains", "clean"])
def test_image_stats_a_scan_darkened_along_some_sides_is_no_photographed_sheet(degradation: str) -> None:
    # GIVEN pages whose light falls off to a corner, with a shadow along a side, stained, or clean
    page = make_page(5, width=640, height=400, font_px=22)
    image = degrade(page, degradation, 5).image
    # WHEN measured / THEN not every side of the frame is desk
    assert image_stats(Image.fromarray(image)).sheet_border < SHEET_BORDER


def test_decide_a_black_and_white_a4_scan_is_already_bilevel_at_any_size() -> None:
    # GIVEN an A4 page at 300 dpi stored black and white (1-bit, as a fax or a bilevel scanner writes
    # it), and the same page rendered grey
    page = make_page(5, width=2480, height=3508, font_px=42)
    bilevel = Image.fromarray(np.where(page.ink, 0, 255).astype(np.uint8)).convert("1")
    # WHEN measured and decided (the statistics' copy is downscaled 4.6x, which greys the strokes)
    stats = image_stats(bilevel)
    grey = image_stats(Image.fromarray(page.image))
    # THEN the black-and-white page is recognized as it is (BinarizeImage would return it unchanged),
    # and the grey render is not taken for black and white
    assert stats.two_level_share >= BILEVEL_SHARE
    assert decide_binarization(stats).reason == "already_bilevel"
    assert grey.two_level_share < BILEVEL_SHARE


def test_decide_a_clean_a4_scan_is_read_as_it_is_like_a_smaller_page() -> None:
    # GIVEN a clean grey A4 page at 300 dpi and a clean 1000 x 700 page (the size the rules were tuned on)
    a4 = image_stats(Image.fromarray(make_page(5, width=2480, height=3508, font_px=42).image))
    small = image_stats(Image.fromarray(make_page(5, width=1000, height=700, font_px=24).image))
    # WHEN decided
    # THEN both are clean (downscaling the whole A4 page 4.6x greyed its strokes into a "poorly
    # separable" histogram, so it was binarized, which reads no better and costs a call), and the
    # A4 page's separability is read at a scale comparable to the smaller page's
    assert decide_binarization(a4).reason == "clean"
    assert decide_binarization(small).reason == "clean"
    assert abs(a4.separability - small.separability) < 0.02
