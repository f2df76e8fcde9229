"""RecognizeImage's default preprocessing geometry: a gray photo is warped flat then deskewed; a
black-and-white page is deskewed by the same cubic interpolation (its gray edges then read as a gray
page's: kept two-level or drawn at 4x it reads worse out of sample, see `bench/binary_reading.py`)."""

from __future__ import annotations

import numpy as np

from bench.corpus import make_page, photograph
from ocr_service.engines.geometry import deskew, rotate
from ocr_service.engines.perspective import correct_perspective
from ocr_service.engines.recognize import for_recognition, is_two_level
from ocr_service.operations import Limits, preprocess
from ocr_service.requests_model import RecognizeSettings

LIMITS = Limits(max_bytes=10**8, max_pixels=10**8)


def test_preprocess_gray_photo_is_warped_flat_then_deskewed() -> None:
    # GIVEN a gray phone photo of a page (perspective, light fall-off) whose sheet is found
    page = make_page(12, width=520, height=300, font_px=22)
    photo, _ = photograph(page, np.random.default_rng(12))
    flat, corners = correct_perspective(photo.image)
    assert corners is not None
    # WHEN it is preprocessed with the default settings
    out = preprocess(photo.image, RecognizeSettings(), LIMITS)
    # THEN the output is, pixel for pixel, the flattened sheet deskewed
    expected, _ = deskew(flat)
    assert out.shape == expected.shape and np.array_equal(out, expected)


def test_preprocess_skewed_binary_page_is_deskewed_like_a_gray_page() -> None:
    # GIVEN a black-and-white page skewed by 3 degrees
    page = make_page(11, width=520, height=300, font_px=22)
    binary = np.where(rotate(np.where(page.ink, 0, 255).astype(np.uint8), 3.0) < 128, 0, 255).astype(np.uint8)
    assert is_two_level(binary)
    # WHEN it is preprocessed with the default settings
    out = preprocess(binary, RecognizeSettings(), LIMITS)
    # THEN it is straightened by cubic interpolation, no sheet being found on it
    straight, angle = deskew(binary)
    assert correct_perspective(binary)[1] is None and abs(angle + 3.0) < 0.3
    assert np.array_equal(out, straight)
    # AND its edges come out gray, so the recognizer reads it as it is, without anti-aliasing it again
    assert not is_two_level(out)
    prepared, scale = for_recognition(out)
    assert prepared is out and scale == 1
