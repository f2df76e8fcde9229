"""Unit tests of the bench corpus generator and its metrics."""

from __future__ import annotations

import numpy as np
import pytest

from bench.corpus import DEGRADATIONS, degrade, make_page
from bench.metrics import cer, f_measure
from ocr_service.requests_model import jpeg_quality, load_rgb


def test_make_page_same_seed_is_identical() -> None:
    # GIVEN / WHEN two pages from the same seed
    first = make_page(7, width=400, height=200, font="serif", font_px=20)
    second = make_page(7, width=400, height=200, font="serif", font_px=20)
    # THEN image, mask and text are equal
    assert np.array_equal(first.image, second.image)
    assert first.text == second.text


def test_make_page_ink_mask_matches_dark_pixels() -> None:
    # GIVEN a clean page
    page = make_page(1, width=400, height=200)
    # THEN ink pixels are dark and the text is non-empty
    assert page.image.shape == (200, 400, 3)
    assert page.image[page.ink].max() < 128
    assert page.text.strip()


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_degrade_keeps_shape_and_ground_truth(name: str) -> None:
    # GIVEN a page
    page = make_page(3, width=400, height=240)
    # WHEN degraded
    out = degrade(page, name, seed=5)
    # THEN the image changes but size, mask and text stay
    assert out.image.shape == page.image.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, page.image)
    assert out.ink is page.ink and out.text == page.text


def test_jpeg_degradation_keeps_the_jpeg_its_image_was_decoded_from() -> None:
    # GIVEN a page with the JPEG degradation, and one with another degradation
    page = make_page(3, width=400, height=240)
    jpeg, blurred = degrade(page, "jpeg", seed=5), degrade(page, "blur", seed=5)
    # WHEN the JPEG's bytes are decoded as the service decodes them
    assert jpeg.encoded is not None
    decoded = load_rgb(jpeg.encoded)
    # THEN they give the page's image exactly, at the degradation's quality (8-14)
    np.testing.assert_array_equal(decoded, jpeg.image)
    assert jpeg_quality(jpeg.encoded) in range(8, 15)
    # AND a page that never was a file has no bytes
    assert blurred.encoded is None and page.encoded is None


def test_degrade_unknown_name_raises() -> None:
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(make_page(1, width=400, height=200), "smudge", seed=1)


def test_cer_normalises_whitespace_and_counts_edits() -> None:
    assert cer("a  b\nc", "a b c") == 0.0
    assert cer("abcd", "abxd") == pytest.approx(0.25)


def test_f_measure_perfect_and_empty() -> None:
    truth = np.zeros((4, 4), bool)
    truth[1:3, 1:3] = True
    assert f_measure(truth, truth) == pytest.approx(100.0)
    assert f_measure(np.zeros_like(truth), truth) == 0.0
