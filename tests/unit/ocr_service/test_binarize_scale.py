"""Binarizer tests on generated images with known ink masks: the cases a fixed-scale method fails.

Thick strokes (the background estimate must be wider than any stroke), a faint page (ink at ~15 %
contrast), already black-and-white input (must come back unchanged), light-on-dark blocks (inverted)
and a thick initial letter (dark, but not a dark background).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from bench.corpus import _font, make_page
from bench.metrics import f_measure
from ocr_service.engines.binarize import binarize, despeckle, estimate_stroke_width
from ocr_service.engines.geometry import correct_contrast

Mask = NDArray[Any]


def _text_mask(h: int, w: int, items: list[tuple[tuple[int, int], str, str, int]]) -> Mask:
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for xy, text, font, px in items:
        draw.text(xy, text, font=_font(font, px), fill=255)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _uneven_paper(h: int, w: int) -> Mask:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return 225.0 + 20.0 * np.sin(xx / w * 3.1) * np.cos(yy / h * 2.3)


@pytest.fixture(scope="module")
def thick() -> tuple[Mask, Mask]:
    h, w = 600, 900
    strokes = np.zeros((h, w), np.uint8)
    cv2.line(strokes, (80, 100), (800, 140), 255, 45)
    cv2.line(strokes, (150, 500), (300, 200), 255, 60)
    cv2.circle(strokes, (600, 400), 110, 255, 38)
    text = _text_mask(h, w, [((420, 250), "thin text next to it", "serif", 28)])
    coverage = np.maximum(strokes / 255.0, text)
    image = _uneven_paper(h, w) * (1 - coverage) + 40.0 * coverage
    return image.astype(np.uint8), coverage >= 0.5


def test_thick_strokes_come_out_solid_not_hollow(thick: tuple[Mask, Mask]) -> None:
    # GIVEN strokes 38-60 px wide on uneven paper, next to 28 px text
    image, ink = thick
    # WHEN binarized
    out = binarize(image) == 0
    # THEN the strokes' interiors are ink (a narrow background window would hollow them)
    core = cv2.erode(ink.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert float(out[core].mean()) > 0.99
    assert f_measure(out, ink) > 95.0


def test_thick_initial_letter_is_not_taken_for_an_inverted_region() -> None:
    # GIVEN a 420 px initial letter (strokes ~60 px) above a line of small text
    h, w = 700, 900
    coverage = _text_mask(h, w, [((40, 40), "W", "serif", 420), ((40, 600), "and words follow", "serif", 26)])
    image = (235.0 * (1 - coverage) + 35.0 * coverage).astype(np.uint8)
    # WHEN binarized THEN the letter stays black ink, not inverted to white
    assert f_measure(binarize(image) == 0, coverage >= 0.5) > 95.0


@pytest.mark.parametrize("ink_level", [205.0, 215.0])
def test_faint_page_keeps_its_ink(ink_level: float) -> None:
    # GIVEN a whole page written in faint ink (10-15 % contrast) under a light gradient
    page = make_page(3, width=900, height=500, font="sans", font_px=24)
    light = np.linspace(1.0, 0.85, page.ink.shape[1], dtype=np.float32)[None, :]
    image = ((240.0 * (1 - page.coverage) + ink_level * page.coverage) * light).astype(np.uint8)
    # WHEN binarized THEN the text is found (a fixed minimum contrast would blank the page)
    assert f_measure(binarize(image) == 0, page.ink) > 95.0


@pytest.mark.parametrize(("font", "px"), [("sans", 12), ("serif", 40)])
def test_black_and_white_page_comes_back_unchanged(font: str, px: int) -> None:
    # GIVEN a pure black-and-white page with text and a solid black block (a logo, a bar)
    page = make_page(7, width=1000, height=700, font=font, font_px=px)
    image = np.where(page.ink, 0, 255).astype(np.uint8)
    image[40:200, 600:900] = 0
    # WHEN binarized THEN (almost) every pixel is as it was
    assert float(np.mean(binarize(image) == image)) > 0.999


@pytest.fixture(scope="module")
def inverted_block() -> tuple[Mask, Mask]:
    page = make_page(4, width=1800, height=1200, font="serif", font_px=44)
    image = page.image[:, :, 0].astype(np.float32)
    y0, y1, x0, x1 = 300, 800, 150, 1600
    image[y0:y1, x0:x1] = 40.0 + (255.0 - image[y0:y1, x0:x1]) * 0.8
    return image.clip(0, 255).astype(np.uint8), page.ink


def test_inverted_block_comes_out_dark_on_white(inverted_block: tuple[Mask, Mask]) -> None:
    # GIVEN a page whose middle block is light text on a dark background
    image, ink = inverted_block
    # WHEN binarized THEN the block's text is ink like the rest and the block is not a black slab
    out = binarize(image) == 0
    assert f_measure(out, ink) > 93.0
    assert float(out[320:780, 170:1580].mean()) < 0.25


def test_stroke_width_follows_the_text_size() -> None:
    # GIVEN the same text at 20 px and at 60 px WHEN the stroke width is estimated
    small = make_page(5, width=900, height=500, font="serif", font_px=20).image
    large = make_page(5, width=2700, height=1500, font="serif", font_px=60).image
    ratio = estimate_stroke_width(large[:, :, 0]) / estimate_stroke_width(small[:, :, 0])
    # THEN it scales with the text (about 3x)
    assert 2.0 < ratio < 4.5


def test_contrast_correction_flattens_a_shadow_and_restores_faded_ink() -> None:
    # GIVEN a page with faded ink (grey 185 on 240) under a shadow across its left part
    page = make_page(8, width=900, height=500, font="sans", font_px=24)
    shade = np.where(np.arange(900) < 300, 0.5, 1.0).astype(np.float32)[None, :]
    image = ((240.0 * (1 - page.coverage) + 185.0 * page.coverage) * shade).astype(np.uint8)
    # WHEN contrast-corrected
    out = correct_contrast(image).astype(np.float32)
    # THEN the paper is one level on both sides of the shadow edge and the ink is dark
    paper = ~cv2.dilate(page.ink.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    left, right = out[:, :280][paper[:, :280]], out[:, 320:][paper[:, 320:]]
    assert abs(float(np.median(left)) - float(np.median(right))) < 8.0
    assert float(np.median(out[page.ink])) < 80.0


def test_recognize_with_binarization_and_upsampling_upsamples_first() -> None:
    # GIVEN small text (11 px) and RecognizeImage settings with binarization and upsampling
    from ocr_service.operations import Limits, preprocess
    from ocr_service.requests_model import RecognizeSettings

    page = make_page(61, width=700, height=400, font="serif", font_px=11)
    settings = RecognizeSettings(make_skew_correct=False, make_binarization=True, make_upsampling=True)
    # WHEN preprocessed
    out = preprocess(page.image, settings, Limits(max_bytes=10**8, max_pixels=10**8))
    # THEN the page was upscaled, then binarized: twice the size and still pure black and white
    assert out.shape == (800, 1400)
    assert set(np.unique(out).tolist()) <= {0, 255}


@pytest.fixture(scope="module")
def fading() -> tuple[Mask, Mask, Mask]:
    """Dark 4 px strokes; 3 px strokes fading from 43 % to 20 % contrast; faint marks at 20 %."""
    h, w = 500, 900
    dark = np.zeros((h, w), np.uint8)
    faint = np.zeros((h, w), np.uint8)
    blots = np.zeros((h, w), np.uint8)
    for i in range(6):
        x = 60 + 140 * i
        cv2.line(dark, (x, 40), (x, 160), 255, 4)
        cv2.line(faint, (x, 200), (x + 90, 330), 255, 3)
        cv2.line(blots, (x + 20, 380), (x + 100, 460), 255, 3)
    rows = np.mgrid[0:h, 0:w][0].astype(np.float32)
    fade = 100.0 - 55.0 * np.clip((rows - 200.0) / 130.0, 0.0, 1.0)
    paper = 230.0 + np.random.default_rng(7).normal(0.0, 2.0, (h, w))
    image = paper - 160.0 * (dark > 0) - fade * (faint > 0) - 45.0 * (blots > 0)
    return np.clip(image, 0, 255).astype(np.uint8), faint > 0, blots > 0


def test_stroke_fading_out_is_kept_to_its_faint_end(fading: tuple[Mask, Mask, Mask]) -> None:
    # GIVEN strokes whose ink runs out: 43 % contrast at one end, 20 % at the other
    image, faint, _ = fading
    # WHEN binarized
    out = binarize(image) == 0
    # THEN they are ink along nearly all their length: the faint end joins the stroke it continues
    # (one threshold for the whole stroke keeps only its darker 80 %)
    assert float(out[faint].mean()) > 0.88


def test_faint_mark_touching_no_ink_stays_paper(fading: tuple[Mask, Mask, Mask]) -> None:
    # GIVEN marks as faint as the strokes' faint ends (20 %) that continue no stroke (bleed-through)
    image, _, blots = fading
    # WHEN binarized THEN they stay paper: only ink continuing a real stroke is grown
    out = binarize(image) == 0
    assert float(out[blots].mean()) < 0.1


def test_despeckle_drops_specks_below_the_area_and_keeps_larger_marks() -> None:
    # GIVEN a white page with 1 px and 2x1 px black specks and a 3x3 px dot
    page = np.full((40, 40), 255, np.uint8)
    page[5, 5] = page[30, 8] = 0
    page[12, 20:22] = 0
    page[20:23, 20:23] = 0
    # WHEN despeckled with a 4 px area
    out = despeckle(page, 4.0)
    # THEN the specks are paper and the dot is untouched
    assert out[5, 5] == out[30, 8] == 255
    assert (out[12, 20:22] == 255).all()
    assert (out[20:23, 20:23] == 0).all()


def test_pepper_goes_and_punctuation_stays() -> None:
    # GIVEN 18 px text full of full stops, commas and i's on grey paper with 0.4 % black pepper
    h, w = 260, 900
    coverage = _text_mask(h, w, [((30, 40), "i.j, a.b, c; d: e. i! i. j,", "sans", 18)])
    coverage = np.maximum(coverage, _text_mask(h, w, [((30, 140), "Stop. Go, go; i.e. (ok).", "serif", 18)]))
    rng = np.random.default_rng(3)
    image = 225.0 * (1 - coverage) + 30.0 * coverage + rng.normal(0.0, 8.0, (h, w))
    near_text = cv2.dilate((coverage > 0.05).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    pepper = (rng.random((h, w)) < 0.004) & ~near_text
    image[pepper] = 0.0
    ink = coverage >= 0.5
    # WHEN binarized
    out = binarize(np.clip(image, 0, 255).astype(np.uint8)) == 0
    # THEN (almost) no pepper grain is left, and every mark of the text, dots included, is still ink
    assert float(out[pepper].mean()) < 0.05
    count, labels = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    kept = [float(out[labels == label].mean()) for label in range(1, count)]
    assert min(kept) >= 0.5


def test_show_through_lighter_than_any_ink_becomes_paper() -> None:
    # GIVEN four lines of dark text (75 % contrast) and one mirrored line showing through from the
    # back of the sheet (35 %: darker than Otsu's split, lighter than any of the page's own ink)
    h, w = 500, 900
    front = _text_mask(h, w, [((30, 30 + 120 * i), "the front of the sheet", "serif", 30) for i in range(4)])
    back = _text_mask(h, w, [((40, 60), "what shows through", "serif", 30)])[:, ::-1]
    noise = np.random.default_rng(5).normal(0.0, 3.0, (h, w))
    image = np.clip(228.0 - 170.0 * front - 80.0 * back * (1 - front) + noise, 0, 255).astype(np.uint8)
    ghost = (back >= 0.5) & (front < 0.05)
    # WHEN binarized
    out = binarize(image) == 0
    # THEN the ghost line is (mostly) paper and the front text intact
    assert float(out[ghost].mean()) < 0.2
    assert f_measure(out, front >= 0.5) > 97.0
