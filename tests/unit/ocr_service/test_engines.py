"""Engine tests on generated pages with known text and ink masks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.corpus import Page, degrade, make_page
from bench.metrics import cer, f_measure
from ocr_service.engines.binarize import binarize
from ocr_service.engines.geometry import deskew, estimate_skew, rotate, upscale
from ocr_service.engines.recognize import RecognitionError, TesseractRecognizer


@pytest.fixture(scope="module")
def clean() -> Page:
    return make_page(11, width=800, height=420, font="serif", font_px=24)


@pytest.fixture(scope="module")
def engine() -> TesseractRecognizer:
    return TesseractRecognizer()


def test_binarize_output_is_binary_same_size(clean: Page) -> None:
    out = binarize(clean.image)
    assert out.shape == clean.ink.shape and out.dtype == np.uint8
    assert set(np.unique(out).tolist()) <= {0, 255}


# Bounds: measured F on these pages minus a margin of ~4 points (see the README's table).
@pytest.mark.parametrize(
    ("degradation", "min_f"),
    [
        ("clean", 97.0),
        ("uneven_illumination", 95.0),
        ("shadow", 95.0),
        ("stains", 88.0),
        ("bleed_through", 94.0),
        ("faded_ink", 95.0),
        ("noise", 88.0),
        ("colored_paper", 95.0),
        ("colored_ink", 95.0),
        ("highlighter", 92.0),
        ("inverted_region", 86.0),
        ("blur", 75.0),
    ],
)
def test_binarize_degraded_page_ink_f_above_bound(clean: Page, degradation: str, min_f: float) -> None:
    # GIVEN a degraded page WHEN binarized THEN the ink mask matches the truth within the bound
    page = degrade(clean, degradation, seed=11)
    assert f_measure(binarize(page.image) == 0, page.ink) >= min_f


def test_binarize_inverted_region_comes_out_dark_on_white(clean: Page) -> None:
    # GIVEN a page whose middle is light text on a dark background
    page = degrade(clean, "inverted_region", seed=11)
    # WHEN binarized THEN the page is mostly white (no large black block)
    assert np.mean(binarize(page.image) == 255) > 0.85


def test_binarize_blank_page_is_all_white() -> None:
    blank = np.full((100, 200, 3), 240, np.uint8)
    assert np.all(binarize(blank) == 255)


@pytest.mark.parametrize("level", [0, 255])
def test_binarize_uniform_page_gives_one_level_without_numeric_warnings(level: int) -> None:
    # GIVEN an all-black and an all-white page (a lens cap, a blank scan)
    page = np.full((300, 400), level, np.uint8)
    # WHEN binarized with numeric warnings as errors (an all-ink first pass has no paper to measure
    # strokes against: every distance is OpenCV's float32 "infinite")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = binarize(page)
    # THEN one level comes back, the page's size
    assert out.shape == page.shape
    assert len(np.unique(out)) == 1


def test_recognize_clean_page_cer_below_2_percent(clean: Page, engine: TesseractRecognizer) -> None:
    assert cer(clean.text, engine.recognize(clean.image).text) < 0.02


# Bounds: measured CER on this page plus margin; inverted regions leave a frame at the region's edge.
@pytest.mark.parametrize(
    ("degradation", "max_cer"), [("uneven_illumination", 0.03), ("shadow", 0.03), ("inverted_region", 0.15)]
)
def test_recognize_after_binarization_cer_below_bound(
    clean: Page, engine: TesseractRecognizer, degradation: str, max_cer: float
) -> None:
    page = degrade(clean, degradation, seed=11)
    assert cer(page.text, engine.recognize(binarize(page.image)).text) < max_cer


def test_recognize_unknown_language_raises(clean: Page, engine: TesseractRecognizer) -> None:
    with pytest.raises(RecognitionError, match="not installed"):
        engine.recognize(clean.image, language="German")


@pytest.mark.parametrize("angle", [4.0, -7.5, 12.0])
def test_estimate_skew_recovers_known_angle(clean: Page, angle: float) -> None:
    assert estimate_skew(rotate(clean.image, angle)) == pytest.approx(angle, abs=0.5)


def test_deskew_straightens_page(clean: Page) -> None:
    straightened, correction = deskew(rotate(clean.image, 6.0))
    assert correction == pytest.approx(-6.0, abs=0.5)
    assert abs(estimate_skew(straightened)) <= 0.5


def test_rotate_quarter_turn_swaps_sides(clean: Page) -> None:
    assert rotate(clean.image, 90).shape[:2] == (800, 420)


def test_upscale_doubles_within_pixel_bound(clean: Page) -> None:
    assert upscale(clean.image, max_pixels=10_000_000).shape[:2] == (840, 1600)


def test_upscale_respects_pixel_bound(clean: Page) -> None:
    out = upscale(clean.image, max_pixels=500_000)
    assert out.shape[0] * out.shape[1] <= 500_000 and out.shape[1] > 800
