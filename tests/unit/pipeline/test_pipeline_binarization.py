"""The auto mode's decision from image statistics."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from bench.corpus import degrade, make_page
from ocr_pipeline.domain.binarization import ImageStats, decide_binarization, image_stats


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
