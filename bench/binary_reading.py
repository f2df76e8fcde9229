"""Reading black-and-white pages: Tesseract on hard 0/255 edges against the service's anti-aliased
reading (`ocr_service.engines.recognize.for_recognition`: 2x for small text, 1x above), on faces the
bench corpus does not use.

Two page sets, every face of `bench.corpus.HELD_OUT_FONTS`:

* thresholded renders (`SIZES`): each page thresholded at 50 % coverage, the black-and-white page a
  bilevel scan, a fax or a binarizer hands over;
* binarized degraded pages (`BINARIZED_SIZES` x `BINARIZED_DEGRADATIONS`): the service's binarizer run
  on the corpus degradations, i.e. what RecognizeImage gets after BinarizeImage, with the binarizer's
  edge errors; the raw degraded page read as RecognizeImage reads it is a third column;
* binarized phone photos (`PHOTO_SIZES`): the corpus's `photograph` of a clean page, binarized, then
  read as RecognizeImage reads it with its default preprocessing (`operations.preprocess`: perspective,
  then deskew by cubic interpolation, so the black-and-white page arrives gray-edged), the raw photo
  read the same way as the reference, and two other ways to deskew a black-and-white page: kept
  two-level (the deskewed page thresholded at mid-gray, then anti-aliased as every black-and-white page
  is) and drawn (rotated at 4x and anti-aliased down, `_rotate_drawn`).

All columns run in this process, one after the other per page, with CPU seconds counted per column.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from typing import Any

import cv2
import numpy as np
from PIL import Image

from bench.corpus import HELD_OUT_FONTS, degrade, make_page, photograph
from bench.metrics import cer
from ocr_pipeline.domain.binarization import decide_binarization, image_stats
from ocr_service import operations
from ocr_service.engines import recognize
from ocr_service.engines.binarize import binarize, to_gray
from ocr_service.engines.geometry import estimate_skew
from ocr_service.engines.perspective import find_page
from ocr_service.engines.recognize import TesseractRecognizer
from ocr_service.requests_model import RecognizeSettings, jpeg_quality

SIZES = (12, 14, 16, 18, 22, 26, 32, 40)
"""Text sizes in px: small print (x-height <= 12 px, read at 2x) to headings (read at 1x)."""
BINARIZED_SIZES = (24, 30, 36)
BINARIZED_DEGRADATIONS = ("clean", "blur", "jpeg", "bleed_through", "colored_paper")
PHOTO_SIZES = (20, 24)
PHOTO_COLUMNS = ("raw photo", "binarized", "binarized, kept two-level", "binarized, drawn rotation")
COLUMNS = ("hard edges", "anti-aliased")
RAW = "raw (gray page)"
PAGE_SIZE = (1000, 700)
"""(width, height) of every rendered page, before a photo's frame."""
QUICK_PAGE_HEIGHT = 350
"""Quick mode's pages: half as many lines (a smoke run of every set, not a figure to quote)."""
_LIMITS = operations.Limits(max_bytes=1 << 30, max_pixels=1 << 30)
Row = dict[str, list[float]]
Table = dict[str, Row]


def _read(engine: TesseractRecognizer, page: Any, anti_alias: bool) -> tuple[str, float]:
    """(text, CPU seconds) of one reading, with the anti-aliasing on or off."""
    with contextlib.nullcontext() if anti_alias else recognize.hard_edges():
        start = time.process_time()
        text = engine.recognize(page).text
        return text, time.process_time() - start


def _means(table: Table) -> dict[str, dict[str, float]]:
    return {key: {c: float(np.mean(v)) for c, v in row.items()} for key, row in table.items()}


def _overall(table: Table, columns: tuple[str, ...]) -> dict[str, float]:
    return {c: float(np.mean([v for row in table.values() for v in row[c]])) for c in columns}


def _read_both(
    engine: TesseractRecognizer, truth: str, binary: Any, seconds: dict[str, float], rows: list[Row]
) -> None:
    """Read `binary` with hard and anti-aliased edges; append each CER (%) to every row of `rows`."""
    for column, on in zip(COLUMNS, (False, True), strict=True):
        text, spent = _read(engine, binary, on)
        seconds[column] += spent
        for row in rows:
            row[column].append(100.0 * cer(truth, text))


def _rotate_drawn(binary: Any, degrees: float) -> Any:
    """`rotate` of a black-and-white page drawn anti-aliased: 4x square pixels rotated there,
    smoothed by the recognizer's half-pixel Gaussian and area-averaged to 1x (same canvas)."""
    h, w = binary.shape
    matrix = cv2.getRotationMatrix2D((2.0 * w, 2.0 * h), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)
    matrix[0, 2] += 2.0 * (new_w - w)
    matrix[1, 2] += 2.0 * (new_h - h)
    big = cv2.resize(binary, (4 * w, 4 * h), interpolation=cv2.INTER_NEAREST)
    turned = cv2.warpAffine(big, matrix, (4 * new_w, 4 * new_h), flags=cv2.INTER_LINEAR, borderValue=255)
    smooth = cv2.GaussianBlur(turned, (0, 0), 4 * recognize.EDGE_SIGMA)
    return cv2.resize(smooth, (new_w, new_h), interpolation=cv2.INTER_AREA)


def _photo_readings(engine: TesseractRecognizer, photo: Any, binary: Any) -> list[tuple[str, float]]:
    """(text, CPU seconds) per `PHOTO_COLUMNS`: the raw photo and the binarized one through
    RecognizeImage's default preprocessing, then the binarized one's two candidate deskews."""
    out = []
    for image in (photo, binary):
        start = time.process_time()
        prepared = to_gray(operations.preprocess(image, RecognizeSettings(), _LIMITS))
        served = time.process_time() - start
        out.append((engine.recognize(prepared).text, time.process_time() - start))
    start = time.process_time()
    kept = cv2.threshold(prepared, 127, 255, cv2.THRESH_BINARY)[1]
    out.append((engine.recognize(kept).text, served + time.process_time() - start))
    start = time.process_time()
    if find_page(binary) is None:  # as the service does; a warped page is read as served
        angle = -estimate_skew(binary)
        prepared = _rotate_drawn(binary, angle) if abs(angle) >= 0.05 else to_gray(binary)
    out.append((engine.recognize(prepared).text, time.process_time() - start))
    return out


def run_photos(
    engine: TesseractRecognizer,
    fonts: list[str],
    sizes: tuple[int, ...],
    page_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Mean CER (%) of the photo columns per text size and face, and the binarized columns' CPU seconds."""
    width, height = page_size or PAGE_SIZE
    by_size: Table = defaultdict(lambda: defaultdict(list))
    by_font: Table = defaultdict(lambda: defaultdict(list))
    seconds = dict.fromkeys(PHOTO_COLUMNS[1:], 0.0)
    auto: dict[str, int] = defaultdict(int)
    for f_index, font in enumerate(fonts):
        for s_index, font_px in enumerate(sizes):
            seed = 9000 + 10 * f_index + s_index
            photo, _ = photograph(
                make_page(seed, width=width, height=height, font=font, font_px=font_px),
                np.random.default_rng(seed),
            )
            decision = decide_binarization(image_stats(Image.fromarray(photo.image)))
            auto[("binarized: " if decision.binarize else "as it is: ") + decision.reason] += 1
            readings = _photo_readings(engine, photo.image, binarize(photo.image))
            for column, (text, spent) in zip(PHOTO_COLUMNS, readings, strict=True):
                if column in seconds:
                    seconds[column] += spent
                for row in (by_size[f"{font_px} px"], by_font[font]):
                    row[column].append(100.0 * cer(photo.text, text))
    return {
        "columns": list(PHOTO_COLUMNS),
        "pages": len(fonts) * len(sizes),
        "cer_percent_by_size": _means(by_size),
        "cer_percent_by_font": _means(by_font),
        "mean_cer_percent": _overall(by_size, PHOTO_COLUMNS),
        "cpu_seconds": seconds,
        "auto_decisions": dict(auto),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """Mean CER (%) per text size and face for both columns (and per degradation with raw for the
    binarized pages), their CPU seconds and the ratio."""
    fonts = list(HELD_OUT_FONTS)[:1] if quick else list(HELD_OUT_FONTS)
    width, height = (PAGE_SIZE[0], min(PAGE_SIZE[1], QUICK_PAGE_HEIGHT)) if quick else PAGE_SIZE
    sizes = tuple(dict.fromkeys((SIZES[0], SIZES[-1]))) if quick else SIZES
    b_sizes = BINARIZED_SIZES[:1] if quick else BINARIZED_SIZES
    degradations = BINARIZED_DEGRADATIONS[:2] if quick else BINARIZED_DEGRADATIONS
    engine = TesseractRecognizer()
    by_size: Table = defaultdict(lambda: defaultdict(list))
    by_font: Table = defaultdict(lambda: defaultdict(list))
    b_by_size: Table = defaultdict(lambda: defaultdict(list))
    b_by_degradation: Table = defaultdict(lambda: defaultdict(list))
    seconds = dict.fromkeys(COLUMNS, 0.0)
    for f_index, font in enumerate(fonts):
        for s_index, font_px in enumerate(sizes):
            page = make_page(
                7000 + 10 * f_index + s_index,
                width=width,
                height=height,
                font=font,
                font_px=font_px,
            )
            binary = np.where(page.ink, 0, 255).astype(np.uint8)
            rows = [by_size[f"{font_px} px"], by_font[font]]
            _read_both(engine, page.text, binary, seconds, rows)
        for s_index, font_px in enumerate(b_sizes):
            seed = 8000 + 10 * f_index + s_index
            page = make_page(seed, width=width, height=height, font=font, font_px=font_px)
            for name in degradations:
                degraded = degrade(page, name, seed)
                image = degraded.image
                rows = [b_by_size[f"{font_px} px"], b_by_degradation[name]]
                for row in rows:
                    row[RAW].append(100.0 * cer(page.text, _read(engine, to_gray(image), True)[0]))
                # as BinarizeImage binarizes the page's file: a JPEG with its quality
                quality = None if degraded.encoded is None else jpeg_quality(degraded.encoded)
                _read_both(engine, page.text, binarize(image, jpeg_quality=quality), seconds, rows)
    photos = run_photos(engine, fonts, PHOTO_SIZES[:1] if quick else PHOTO_SIZES, (width, height))
    b_columns = (RAW, *COLUMNS)
    return {
        "columns": list(COLUMNS),
        "pages": len(fonts) * len(sizes),
        "fonts": [HELD_OUT_FONTS[f] for f in fonts],
        "cer_percent_by_size": _means(by_size),
        "cer_percent_by_font": _means(by_font),
        "mean_cer_percent": _overall(by_size, COLUMNS),
        "binarized": {
            "columns": list(b_columns),
            "pages": len(fonts) * len(b_sizes) * len(degradations),
            "cer_percent_by_size": _means(b_by_size),
            "cer_percent_by_degradation": _means(b_by_degradation),
            "mean_cer_percent": _overall(b_by_size, b_columns),
        },
        "photos": photos,
        "cpu_seconds": seconds,
        "cpu_ratio": seconds[COLUMNS[1]] / max(seconds[COLUMNS[0]], 1e-9),
    }
