"""Perspective correction: a photographed sheet is found and warped flat; scans are left alone."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from bench.corpus import degrade, make_page, photograph
from bench.metrics import f_measure
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize
from ocr_service.engines.geometry import rotate
from ocr_service.engines.perspective import correct_perspective, find_page


def test_photographed_sheet_corners_are_found_and_the_sheet_warped_to_its_shape() -> None:
    # GIVEN a page photographed in perspective on a desk (known homography)
    page = make_page(21, width=1000, height=700, font="serif", font_px=26)
    photo, matrix = photograph(page, np.random.default_rng(21))
    corners = np.array([[0, 0], [999, 0], [999, 699], [0, 699]], np.float32).reshape(-1, 1, 2)
    truth = cv2.perspectiveTransform(corners, matrix).reshape(4, 2)
    # WHEN the sheet is looked for and corrected
    found = find_page(photo.image)
    flat, used = correct_perspective(photo.image)
    # THEN its corners are within 1 % of the frame of the true ones, in TL, TR, BR, BL order
    assert found is not None and used is not None
    assert float(np.abs(found - truth).max()) < 0.01 * max(photo.image.shape)
    # AND the warped sheet has about the page's proportions (foreshortening aside), lines level
    assert abs(flat.shape[1] / flat.shape[0] - 1000 / 700) < 0.08
    ink = (cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY) < 128).astype(np.uint8)
    rows = ink.sum(axis=1)
    assert float(np.count_nonzero(rows == 0)) / rows.size > 0.3  # gaps between lines stay empty


def test_scan_that_fills_the_frame_is_left_unchanged() -> None:
    # GIVEN a scanned page (the paper fills the frame) WHEN perspective correction runs
    page = make_page(22, width=1000, height=700, font="sans", font_px=24)
    out, corners = correct_perspective(page.image)
    # THEN it is a no-op: the very same array
    assert corners is None
    assert out is page.image


def test_rotated_page_on_white_is_left_to_deskew() -> None:
    # GIVEN a page rotated by 5 degrees onto a white canvas (no darker surroundings)
    page = make_page(23, width=1000, height=700, font="sans", font_px=24)
    tilted = rotate(page.image, 5.0)
    # WHEN perspective correction runs THEN nothing is found (deskew handles rotation)
    assert find_page(tilted) is None


def test_dark_page_without_a_sheet_is_left_unchanged() -> None:
    # GIVEN an image that is mostly dark with a small bright patch (no sheet filling 20 % or more)
    image = np.full((600, 800, 3), 60, np.uint8)
    image[250:330, 350:450] = 230
    # WHEN perspective correction runs THEN it is a no-op
    assert correct_perspective(image)[1] is None


def test_shadow_across_a_scanned_page_is_not_taken_for_a_sheet() -> None:
    # GIVEN a scanned page whose left part lies in a deep shadow (its lit part is a bright 4-gon)
    page = make_page(24, width=1000, height=700, font="sans", font_px=24)
    image = page.image.astype(np.float32)
    image[:, :450] *= 0.35
    shadowed = image.astype(np.uint8)
    # WHEN perspective correction runs THEN it is a no-op (the text would otherwise be cut away)
    assert correct_perspective(shadowed)[1] is None


def _textured_desk_photo(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """(photo of a page on a wood-like desk, the sheet's mask in the photo, the page's ink in it)."""
    page = make_page(seed, width=1000, height=700, font="sans", font_px=24)
    photo, matrix = photograph(page, np.random.default_rng(seed))
    fh, fw = photo.ink.shape
    sheet = cv2.warpPerspective(np.full((700, 1000), 255, np.uint8), matrix, (fw, fh)) > 127
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0.0, 1.0, (fh, fw)).astype(np.float32), (0, 0), sigmaX=9, sigmaY=1.5)
    knots = cv2.GaussianBlur((rng.random((fh, fw)) < 0.0004).astype(np.float32), (0, 0), 4.0)
    desk = 110.0 + 60.0 * grain / max(float(np.abs(grain).max()), 1e-6) - 900.0 * knots
    image = photo.image.astype(np.float32)
    image[~sheet] = np.clip(desk[~sheet], 0, 255)[:, None] * np.array([1.0, 0.85, 0.7], np.float32)
    return image.astype(np.uint8), sheet, photo.ink


def test_binarized_photo_has_no_ink_outside_the_sheet_on_a_textured_desk() -> None:
    # GIVEN a page photographed on a textured (grained, knotted) desk
    image, sheet, ink = _textured_desk_photo(25)
    assert find_page(image) is not None
    # WHEN it is binarized with and without the sheet rule
    out = binarize(image)
    unruled = binarize(image, replace(DEFAULT_PARAMS, sheet_only=False))
    # THEN the geometry is unchanged and no ink is left outside the sheet (the desk and the sheet's
    # rim are paper), where without the rule there is
    assert out.shape == image.shape[:2]
    outside = ~cv2.dilate(sheet.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert int(np.count_nonzero(out[outside] == 0)) == 0
    assert int(np.count_nonzero(unruled[~sheet] == 0)) > 1000
    # AND the text on the sheet is kept: ink F at least that of the unruled output inside the sheet
    # (about 83-87 on photos: the warped ground truth is resampled), far above the unruled page's
    kept = f_measure(out == 0, ink)
    assert kept >= f_measure((unruled == 0) & sheet, ink) - 0.5
    assert kept > 80.0
    assert kept > f_measure(unruled == 0, ink) + 10.0


@pytest.mark.parametrize("degradation", ["clean", "shadow", "stains", "uneven_illumination"])
def test_scan_without_a_sheet_is_binarized_as_without_the_sheet_rule(degradation: str) -> None:
    # GIVEN a scanned page (no desk around it), clean or degraded
    page = degrade(make_page(26, width=1000, height=700, font="serif", font_px=26), degradation, 26)
    # WHEN it is binarized with and without the sheet rule THEN both are identical
    ruled = binarize(page.image)
    unruled = binarize(page.image, replace(DEFAULT_PARAMS, sheet_only=False))
    assert np.array_equal(ruled, unruled)
