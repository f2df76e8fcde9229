"""A request image's JPEG quality is read from its quantisation table and handed to the binarizer:
strongly compressed JPEGs are smoothed before binarization, every other input is binarized as before."""

from __future__ import annotations

import base64
import io
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.corpus import Page, make_page
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize, deblock, to_gray
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.operations import Limits, png_bytes, prepare
from ocr_service.requests_model import jpeg_quality, load_rgb

LIMITS = Limits(max_bytes=10**8, max_pixels=10**8)
CUT = DEFAULT_PARAMS.deblock_below_quality


@pytest.fixture(scope="module")
def page() -> Page:
    return make_page(21, width=640, height=260, font="serif", font_px=24)


@pytest.fixture(scope="module")
def engine() -> TesseractRecognizer:
    return TesseractRecognizer()


def _jpeg(image: Any, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _encoded(image: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


def _binarized_by_service(data: bytes, engine: TesseractRecognizer) -> Any:
    job = prepare("BinarizeImage", {"image": base64.b64encode(data).decode()}, LIMITS, engine)
    (result,) = job()
    return np.asarray(Image.open(io.BytesIO(result.data)))


def _recognized_image_by_service(data: bytes, engine: TesseractRecognizer) -> Any:
    settings = {"makebinarization": True, "makeskewcorrect": False, "resulttype": "ImagePNG"}
    body = {"image": base64.b64encode(data).decode(), "settings": settings}
    (result,) = prepare("RecognizeImage", body, LIMITS, engine)()
    return np.asarray(Image.open(io.BytesIO(result.data)))


def test_jpeg_quality_estimate_tracks_the_encode_quality(page: Page) -> None:
    # GIVEN the page encoded by libjpeg (Pillow and OpenCV) at known qualities
    qualities = (2, 5, 10, 15, 25, 40, 49, 50, 60, 75, 90, 95, 100)
    for quality in qualities:
        ok, cv_data = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        # WHEN the quality is read back from each JPEG's luminance table
        estimates = (jpeg_quality(_jpeg(page.image, quality)), jpeg_quality(cv_data.tobytes()))
        # THEN both are within one of the encode quality
        assert all(e is not None and abs(e - quality) <= 1 for e in estimates), (quality, estimates)
    # AND the estimates rise with the quality
    estimates_pil = [jpeg_quality(_jpeg(page.image, q)) for q in qualities]
    assert estimates_pil == sorted(estimates_pil)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "GIF"])
def test_jpeg_quality_is_none_for_other_formats(page: Page, fmt: str) -> None:
    # GIVEN the page in a format other than JPEG WHEN its quality is read THEN there is none
    assert jpeg_quality(_encoded(page.image, fmt)) is None


def test_jpeg_quality_is_none_for_bytes_that_only_start_like_a_jpeg() -> None:
    # GIVEN a JPEG start-of-image marker and nothing readable after it
    # WHEN its quality is read THEN there is none (no exception)
    assert jpeg_quality(b"\xff\xd8\xff\xe0garbage") is None


def test_deblock_returns_the_image_itself_without_a_strongly_compressed_source(page: Page) -> None:
    # GIVEN a gray page WHEN deblocked with no quality or one at or above the cut
    gray = to_gray(page.image)
    # THEN the very same array comes back
    assert deblock(gray, None) is gray
    assert deblock(gray, CUT) is gray
    assert deblock(gray, 95) is gray


def test_binarize_image_on_png_bytes_is_the_plain_binarization(
    page: Page, engine: TesseractRecognizer
) -> None:
    # GIVEN the page as PNG bytes WHEN BinarizeImage runs
    out = _binarized_by_service(png_bytes(page.image), engine)
    # THEN the output is binarize(pixels), as before the JPEG quality was read
    np.testing.assert_array_equal(out, binarize(page.image))


def test_binarize_image_on_high_quality_jpeg_is_not_smoothed(page: Page, engine: TesseractRecognizer) -> None:
    # GIVEN the page as a JPEG of quality 90 (above the cut)
    data = _jpeg(page.image, 90)
    # WHEN BinarizeImage runs THEN the output is the plain binarization of the decoded pixels
    np.testing.assert_array_equal(_binarized_by_service(data, engine), binarize(load_rgb(data)))


def test_binarize_image_on_low_quality_jpeg_is_smoothed_first(
    page: Page, engine: TesseractRecognizer
) -> None:
    # GIVEN the page as a strongly compressed JPEG (quality 10, below the cut)
    data = _jpeg(page.image, 10)
    pixels = load_rgb(data)
    # WHEN BinarizeImage runs
    out = _binarized_by_service(data, engine)
    # THEN the output is the binarization of the page smoothed by the deblocking Gaussian
    smoothed = cv2.GaussianBlur(to_gray(pixels), (0, 0), DEFAULT_PARAMS.deblock_sigma_px)
    np.testing.assert_array_equal(out, binarize(smoothed))
    # AND it differs from the plain binarization of the same pixels
    assert np.count_nonzero(out != binarize(pixels)) > 0


def test_recognize_image_with_binarization_smooths_a_low_quality_jpeg(
    page: Page, engine: TesseractRecognizer
) -> None:
    # GIVEN the page as a JPEG of quality 10 and as a JPEG of quality 90
    low, high = _jpeg(page.image, 10), _jpeg(page.image, 90)
    # WHEN RecognizeImage binarizes each (makeBinarization, the image returned as ImagePNG)
    # THEN the low-quality one was smoothed first, the high-quality one was not
    low_out = _recognized_image_by_service(low, engine)
    np.testing.assert_array_equal(low_out, binarize(load_rgb(low), jpeg_quality=10))
    assert np.count_nonzero(low_out != binarize(load_rgb(low))) > 0
    np.testing.assert_array_equal(_recognized_image_by_service(high, engine), binarize(load_rgb(high)))
