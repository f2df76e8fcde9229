"""Soft pages: a blurred page is deconvolved before the cut, one upsampled from low resolution is not."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.corpus import Page, font_path, make_page, photograph
from bench.deblur_cut import edge_level
from bench.metrics import f_measure
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize
from ocr_service.engines.flat import (
    _richardson_lucy,
    blur_sigma,
    deblur,
    flat_paper_binarize,
    sharpness,
    upsampled,
)

Mask = np.ndarray  # type: ignore[type-arg]


def _rn_pairs() -> tuple[Mask, Mask]:
    """(grey page, true ink) of "rn" pairs at irregular spacing, sans 24 px, ink 20 on paper 245."""
    face = ImageFont.truetype(str(font_path("sans")), 24)
    canvas = Image.new("L", (900, 400), 0)
    draw = ImageDraw.Draw(canvas)
    rng = np.random.default_rng(5)
    for line in range(8):
        x = 40
        while x < 800:
            draw.text((x, 30 + line * 40), "rn", font=face, fill=255)
            x += int(rng.integers(45, 70))
    coverage = np.asarray(canvas, np.float32) / 255.0
    return np.round(245.0 - 225.0 * coverage).astype(np.uint8), coverage >= 0.5


def _components(ink: Mask) -> int:
    return int(cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)[0]) - 1


@pytest.mark.parametrize("sigma", [1.0, 1.2])
def test_blurred_rn_pairs_keep_the_gap_between_r_and_n(sigma: float) -> None:
    # GIVEN "rn" pairs blurred by optics until r and n nearly touch
    gray, truth = _rn_pairs()
    blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
    # WHEN binarized
    out = binarize(blurred) == 0
    # THEN every r and every n is a mark of its own (the gap survives) and the strokes keep their width
    assert _components(out) == _components(truth)
    assert 0.85 < out.sum() / truth.sum() < 1.2
    # AND without the deconvolution the pairs merge into one mark each ("m")
    plain = binarize(blurred, replace(DEFAULT_PARAMS, deblur_iterations=0)) == 0
    assert _components(plain) <= 0.6 * _components(truth)


def test_deblurred_cut_lies_on_the_strokes_true_edges() -> None:
    # GIVEN sans, serif and mono pages blurred by optics (sigma 1.2 px), deconvolved as the
    # flat-paper path does
    # WHEN the restored darkness is read on the true edges (ink coverage 45-55 %)
    levels = [edge_level(font, 24, 1.2, 11 + i) for i, font in enumerate(("sans", "serif", "mono"))]
    # THEN the cut sits at their median level (0.45 and the half-ink 0.5 lie above: strokes thinned)
    assert all(level is not None for level in levels)
    assert abs(float(np.median(levels)) - DEFAULT_PARAMS.deblur_cut) < 0.015


def test_page_upsampled_from_a_low_resolution_is_not_deblurred() -> None:
    # GIVEN one page scanned at 45 % of its resolution and interpolated back up, and blurred instead
    page = make_page(14, width=1000, height=700, font="sans", font_px=24)
    gray = page.image[:, :, 0]
    small = cv2.resize(gray, (450, 315), interpolation=cv2.INTER_AREA)
    low = cv2.resize(small, (1000, 700), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(gray, (0, 0), 1.2)
    # WHEN the soft flat-paper path looks at both
    # THEN the upsampled page is recognised as such and left to the full binarizer
    assert upsampled(low, DEFAULT_PARAMS)
    assert flat_paper_binarize(low, DEFAULT_PARAMS) is None
    # AND the blurred one is not: it is deconvolved and cut, close to the true ink
    assert not upsampled(blurred, DEFAULT_PARAMS)
    out = flat_paper_binarize(blurred, DEFAULT_PARAMS)
    assert out is not None
    assert f_measure(out == 0, page.ink) > 90.0


@pytest.mark.parametrize(("font", "px", "sigma"), [("sans", 16, 0.6), ("serif", 24, 1.0), ("mono", 32, 1.5)])
def test_blur_sigma_reads_back_the_blur_of_a_text_page(font: str, px: int, sigma: float) -> None:
    # GIVEN a text page on flat paper blurred by a known sigma (a font and size not in the table's)
    page = make_page(15, width=900, height=600, font=font, font_px=px)
    gray = cv2.GaussianBlur((245.0 - 225.0 * page.coverage).astype(np.float32), (0, 0), sigma)
    below = cv2.subtract(np.full(gray.shape, 245, np.uint8), gray.round().astype(np.uint8))
    contrast = int(np.percentile(below, 99.5))
    # WHEN its edge sharpness is measured and read as a blur
    estimate = blur_sigma(sharpness(below, cv2.dilate(below, np.ones((5, 5), np.uint8)), contrast))
    # THEN it is that sigma within 15 %
    assert estimate == pytest.approx(sigma, rel=0.15)


def test_photographed_page_is_deconvolved_to_its_strokes_width() -> None:
    # GIVEN a clean page photographed (perspective, light fall-off, lens blur, desk around it)
    page = make_page(3000, width=1000, height=700, font="sans", font_px=24)
    photo, _ = photograph(page, np.random.default_rng(3000))
    # WHEN binarized with and without the photo's deconvolution
    sharp = binarize(photo.image) == 0
    soft = binarize(photo.image, replace(DEFAULT_PARAMS, photo_deblur=False)) == 0
    # THEN the deconvolved strokes are nearer their true width, and the ink F-measure is higher
    assert sharp.sum() / photo.ink.sum() < 1.15 < soft.sum() / photo.ink.sum()
    assert f_measure(sharp, photo.ink) > f_measure(soft, photo.ink) + 2.0


def test_deconvolution_in_row_bands_equals_one_pass() -> None:
    # GIVEN a tall blurred page (several bands' worth of rows)
    page = make_page(16, width=800, height=1400, font="serif", font_px=30)
    below = cv2.GaussianBlur((225.0 * page.coverage).astype(np.float32), (0, 0), 1.3).round().astype(np.uint8)
    # WHEN it is deconvolved in bands and in one pass THEN the results are identical
    np.testing.assert_array_equal(deblur(below, 1.3, 20), _richardson_lucy(below, 1.3, 20))


@pytest.mark.parametrize("seed", [1, 2])
def test_full_stops_of_a_photographed_page_survive(seed: int) -> None:
    # GIVEN 14 lines of "only. " x 10 in mono 22 px, photographed (lens blur, perspective)
    face = ImageFont.truetype(str(font_path("mono")), 22)
    canvas = Image.new("L", (1000, 700), 0)
    draw = ImageDraw.Draw(canvas)
    for line in range(14):
        draw.text((70, 60 + line * 40), "only. " * 10, font=face, fill=255)
    coverage = np.asarray(canvas, np.float32) / 255.0
    gray = np.round(255.0 * (1.0 - coverage)).astype(np.uint8)
    page = Page(image=np.repeat(gray[:, :, None], 3, axis=2), ink=coverage >= 0.5, text="", coverage=coverage)
    photo, _ = photograph(page, np.random.default_rng(seed))
    # WHEN binarized
    out = binarize(photo.image) == 0
    # THEN every letter and every full stop is a mark of its own: 14 x 10 x 5 (a dot about a
    # stroke wide is not taken for show-through, though at the working scale it looks fainter)
    assert _components(out) == 14 * 10 * 5
