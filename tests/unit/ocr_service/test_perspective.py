"""Perspective correction: a photographed sheet is found and warped flat; scans are left alone."""

from __future__ import annotations

import cv2
import numpy as np

from bench.corpus import make_page, photograph
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
