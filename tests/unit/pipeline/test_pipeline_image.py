"""Image validation: magic bytes, limits, damaged data."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ocr_pipeline.domain.image import check_image, sniff_format
from ocr_pipeline.errors import ImageTooLarge, InvalidImage, UnsupportedImage
from tests.unit.pipeline.pipeline_support import image_bytes

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 1_000_000}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP", "GIF"])
def test_check_image_supported_format_decodes(fmt: str) -> None:
    # GIVEN a small valid image / WHEN checked
    checked = check_image(image_bytes(40, 30, fmt), **LIMITS)
    # THEN its format and size are reported
    assert (checked.format, checked.width, checked.height) == (fmt, 40, 30)


def test_check_image_empty_is_invalid() -> None:
    # GIVEN / WHEN / THEN an empty object is not an image
    with pytest.raises(InvalidImage, match="empty"):
        check_image(b"", **LIMITS)


def test_sniff_format_pdf_is_unsupported() -> None:
    # GIVEN / WHEN / THEN a PDF renamed to .png is refused by its magic bytes
    with pytest.raises(UnsupportedImage):
        sniff_format(b"%PDF-1.7\n...")


def test_check_image_truncated_png_is_invalid() -> None:
    # GIVEN a PNG cut in half
    data = image_bytes(200, 200, "PNG", color=128)
    # WHEN checked / THEN decoding fails as invalid, not as a crash
    with pytest.raises(InvalidImage):
        check_image(data[: len(data) // 2], **LIMITS)


def test_check_image_pixel_bomb_is_refused_from_header() -> None:
    # GIVEN a few-kilobyte PNG that decodes to 25 million pixels
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000), 0).save(buffer, format="PNG")
    bomb = buffer.getvalue()
    assert len(bomb) < LIMITS["max_bytes"]
    # WHEN checked / THEN it is too large, before any pixel is decoded
    with pytest.raises(ImageTooLarge, match="pixels"):
        check_image(bomb, **LIMITS)


def test_check_image_above_byte_limit_is_too_large() -> None:
    # GIVEN an image bigger than the byte limit / WHEN checked / THEN it is refused
    with pytest.raises(ImageTooLarge, match="bytes"):
        check_image(image_bytes(100, 100, "BMP"), max_bytes=1000, max_pixels=1_000_000)


def test_check_image_multipage_tiff_is_unsupported() -> None:
    # GIVEN a two-page TIFF
    buffer = io.BytesIO()
    pages = [Image.new("L", (20, 20), 255), Image.new("L", (20, 20), 0)]
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    # WHEN checked / THEN it is refused (the API reads single-page TIFF only)
    with pytest.raises(UnsupportedImage, match="multi-page"):
        check_image(buffer.getvalue(), **LIMITS)
