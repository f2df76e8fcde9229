"""Reading black-and-white pages: Tesseract on hard 0/255 edges against the service's anti-aliased 2x
reading (`ocr_service.engines.recognize.for_recognition`), on faces the bench corpus does not use.

Every page (`bench.corpus.HELD_OUT_FONTS` x `SIZES`) is rendered and thresholded at 50 % coverage:
the black-and-white page a bilevel scan, a fax or a binarizer hands over. Both columns run in this
process, one after the other per page, with CPU seconds counted per column.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench.corpus import HELD_OUT_FONTS, make_page
from bench.metrics import cer
from ocr_service.engines import recognize
from ocr_service.engines.recognize import TesseractRecognizer

SIZES = (12, 14, 16, 18, 22)
"""Text sizes in px: small print, where the anti-aliasing applies (x-height <= 12 px)."""
COLUMNS = ("hard edges", "anti-aliased 2x")


def _read(engine: TesseractRecognizer, page: Any, anti_alias: bool) -> tuple[str, float]:
    """(text, CPU seconds) of one reading, with the anti-aliasing on or off."""
    saved = recognize.SMALL_TEXT_HEIGHT
    recognize.SMALL_TEXT_HEIGHT = saved if anti_alias else 0
    try:
        start = time.process_time()
        text = engine.recognize(page).text
        return text, time.process_time() - start
    finally:
        recognize.SMALL_TEXT_HEIGHT = saved


def run(*, quick: bool = False) -> dict[str, Any]:
    """Mean CER (%) per text size and face for both columns, their CPU seconds and the ratio."""
    fonts = list(HELD_OUT_FONTS)[:2] if quick else list(HELD_OUT_FONTS)
    sizes = (SIZES[0], SIZES[-1]) if quick else SIZES
    engine = TesseractRecognizer()
    by_size: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_font: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seconds = dict.fromkeys(COLUMNS, 0.0)
    for f_index, font in enumerate(fonts):
        for s_index, font_px in enumerate(sizes):
            page = make_page(7000 + 10 * f_index + s_index, font=font, font_px=font_px)
            binary = np.where(page.ink, 0, 255).astype(np.uint8)
            for column, on in zip(COLUMNS, (False, True), strict=True):
                text, spent = _read(engine, binary, on)
                seconds[column] += spent
                by_size[f"{font_px} px"][column].append(100.0 * cer(page.text, text))
                by_font[font][column].append(100.0 * cer(page.text, text))

    def means(table: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {key: {c: float(np.mean(v)) for c, v in row.items()} for key, row in table.items()}

    every = {c: [v for row in by_size.values() for v in row[c]] for c in COLUMNS}
    return {
        "columns": list(COLUMNS),
        "pages": len(fonts) * len(sizes),
        "fonts": [HELD_OUT_FONTS[f] for f in fonts],
        "cer_percent_by_size": means(by_size),
        "cer_percent_by_font": means(by_font),
        "mean_cer_percent": {c: float(np.mean(v)) for c, v in every.items()},
        "cpu_seconds": seconds,
        "cpu_ratio": seconds[COLUMNS[1]] / max(seconds[COLUMNS[0]], 1e-9),
    }
