"""Checks that an object is an image the OCR API can take, within the configured limits."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ocr_pipeline.errors import ImageTooLarge, InvalidImage, UnsupportedImage

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """An image that passed every check, decoded."""

    image: Image.Image
    format: str
    width: int
    height: int
    byte_size: int

    @property
    def megapixels(self) -> float:
        """Width x height in millions of pixels."""
        return self.width * self.height / 1_000_000


def sniff_format(data: bytes) -> str:
    """Return the format named by the magic bytes of ``data``; raise if it is not a supported image."""
    if not data:
        raise InvalidImage("the object is empty")
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    raise UnsupportedImage("the object does not start with the magic bytes of PNG, JPEG, TIFF, BMP or GIF")


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CheckedImage:
    """Validate and decode ``data``.

    Raises :class:`ImageTooLarge` above ``max_bytes`` or ``max_pixels`` (checked from the header, before
    any pixel is decoded, so a decompression bomb costs nothing), :class:`UnsupportedImage` for unknown
    magic bytes or multi-page TIFF (the API takes single-page TIFF only), and :class:`InvalidImage` for
    empty, truncated or undecodable data.
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes exceed the limit of {max_bytes}")
    expected = sniff_format(data)
    try:
        with warnings.catch_warnings():
            # The configured pixel limit below is the one that counts; Pillow's own guard only stops
            # images above twice its global default, which is still reported as too large.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[expected])
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"cannot read the {expected} header: {exc}") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} = {width * height} pixels exceed the limit of {max_pixels}")
    if expected == "TIFF" and getattr(image, "n_frames", 1) > 1:
        raise UnsupportedImage("multi-page TIFF is not supported; split the pages first")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImage(f"cannot decode the {expected} data: {exc}") from exc
    return CheckedImage(image=image, format=expected, width=width, height=height, byte_size=len(data))
