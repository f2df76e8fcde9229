"""Reading black-and-white pages: Tesseract on hard 0/255 edges against the service's anti-aliased
reading (`ocr_service.engines.recognize.for_recognition`: 2x for small text, 1x above), on faces the
bench corpus does not use.

Two page sets, every face of `bench.corpus.HELD_OUT_FONTS`:

* thresholded renders (`SIZES`): each page thresholded at 50 % coverage, the black-and-white page a
  bilevel scan, a fax or a binarizer hands over;
* binarized degraded pages (`BINARIZED_SIZES` x `BINARIZED_DEGRADATIONS`): the service's binarizer run
  on the corpus degradations, i.e. what RecognizeImage gets after BinarizeImage, with the binarizer's
  edge errors; the raw degraded page read as RecognizeImage reads it is a third column.

All columns run in this process, one after the other per page, with CPU seconds counted per column.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench.corpus import HELD_OUT_FONTS, degrade, make_page
from bench.metrics import cer
from ocr_service.engines import recognize
from ocr_service.engines.binarize import binarize, to_gray
from ocr_service.engines.recognize import TesseractRecognizer

SIZES = (12, 14, 16, 18, 22, 26, 32, 40)
"""Text sizes in px: small print (x-height <= 12 px, read at 2x) to headings (read at 1x)."""
BINARIZED_SIZES = (24, 30, 36)
BINARIZED_DEGRADATIONS = ("clean", "blur", "jpeg", "bleed_through", "colored_paper")
COLUMNS = ("hard edges", "anti-aliased")
RAW = "raw (gray page)"
Row = dict[str, list[float]]
Table = dict[str, Row]


def _read(engine: TesseractRecognizer, page: Any, anti_alias: bool) -> tuple[str, float]:
    """(text, CPU seconds) of one reading, with the anti-aliasing on or off."""
    saved = recognize.ANTI_ALIASING
    recognize.ANTI_ALIASING = anti_alias
    try:
        start = time.process_time()
        text = engine.recognize(page).text
        return text, time.process_time() - start
    finally:
        recognize.ANTI_ALIASING = saved


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


def run(*, quick: bool = False) -> dict[str, Any]:
    """Mean CER (%) per text size and face for both columns (and per degradation with raw for the
    binarized pages), their CPU seconds and the ratio."""
    fonts = list(HELD_OUT_FONTS)[:2] if quick else list(HELD_OUT_FONTS)
    sizes = (SIZES[0], SIZES[-1]) if quick else SIZES
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
            page = make_page(7000 + 10 * f_index + s_index, font=font, font_px=font_px)
            binary = np.where(page.ink, 0, 255).astype(np.uint8)
            rows = [by_size[f"{font_px} px"], by_font[font]]
            _read_both(engine, page.text, binary, seconds, rows)
        for s_index, font_px in enumerate(b_sizes):
            seed = 8000 + 10 * f_index + s_index
            page = make_page(seed, font=font, font_px=font_px)
            for name in degradations:
                image = degrade(page, name, seed).image
                rows = [b_by_size[f"{font_px} px"], b_by_degradation[name]]
                for row in rows:
                    row[RAW].append(100.0 * cer(page.text, _read(engine, to_gray(image), True)[0]))
                _read_both(engine, page.text, binarize(image), seconds, rows)
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
        "cpu_seconds": seconds,
        "cpu_ratio": seconds[COLUMNS[1]] / max(seconds[COLUMNS[0]], 1e-9),
    }
