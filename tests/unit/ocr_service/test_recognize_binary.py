"""Black-and-white pages are read anti-aliased (small text at 2x, larger at 1x); coordinates stay the
input's."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench.corpus import make_page
from bench.metrics import cer
from ocr_service.engines import recognize as rec
from ocr_service.engines.recognize import TesseractRecognizer, anti_alias, anti_alias_1x, for_recognition

STIX = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "STIXGeneral.ttf"
"""A Times-like face outside the bench corpus's DejaVu fonts."""
TEXT = (
    "Minimum illumination affects the rendering of small print,",
    "and the quick brown fox jumps over thirteen lazy dogs in 1987.",
    "Simplified handling of fine serifs: rn, m, cl, d, li, il, ff.",
    "Several million scanned pages arrive every morning by courier.",
)


def _stix_page(font_px: int) -> tuple[np.ndarray, str]:  # type: ignore[type-arg]
    """(black-and-white page, its text): STIX at `font_px`, ink = coverage >= 0.5."""
    face = ImageFont.truetype(str(STIX), font_px)
    canvas = Image.new("L", (900, 60 + len(TEXT) * 2 * font_px), 0)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(TEXT):
        draw.text((30, 30 + i * 2 * font_px), line, font=face, fill=255)
    return np.where(np.asarray(canvas) >= 128, 0, 255).astype(np.uint8), "\n".join(TEXT)


def test_for_recognition_small_binary_text_anti_aliased_at_twice_the_size() -> None:
    # GIVEN a black-and-white page of 14 px text
    page, _ = _stix_page(14)
    # WHEN it is prepared for recognition
    out, scale = for_recognition(page)
    # THEN it is twice the size, with gray edges, and the same page when averaged back down
    assert scale == 2 and out.shape == (2 * page.shape[0], 2 * page.shape[1])
    assert np.count_nonzero((out > 0) & (out < 255)) > 0.01 * out.size
    back = out.reshape(page.shape[0], 2, page.shape[1], 2).mean(axis=(1, 3))
    assert np.mean((back < 128) == (page < 128)) > 0.99


def test_for_recognition_large_binary_text_anti_aliased_at_its_size() -> None:
    # GIVEN a black-and-white page of 40 px text
    page, _ = _stix_page(40)
    # WHEN it is prepared for recognition
    out, scale = for_recognition(page)
    # THEN it keeps its size, gains gray edges, and thresholds back to the same page
    assert scale == 1 and out.shape == page.shape
    assert np.count_nonzero((out > 0) & (out < 255)) > 0.01 * out.size
    assert np.mean((out < 128) == (page < 128)) > 0.995


@pytest.mark.parametrize("case", ["gray", "rgb", "switched_off"])
def test_for_recognition_other_images_pass_unchanged(case: str) -> None:
    # GIVEN a gray render, an RGB page, or a black-and-white page with the anti-aliasing switched off
    if case == "gray":
        image = make_page(1, font_px=14).image[:, :, 0]
    elif case == "rgb":
        image = np.repeat(_stix_page(14)[0][:, :, None], 3, axis=2)
    else:
        image = _stix_page(14)[0]
    # WHEN prepared for recognition
    with rec.hard_edges() if case == "switched_off" else contextlib.nullcontext():
        out, scale = for_recognition(image)
    # THEN it is handed over as it is
    assert scale == 1 and out is image


def test_hard_edges_switch_holds_only_in_its_own_thread() -> None:
    # GIVEN a black-and-white page, and a thread that is inside `hard_edges` while another prepares it
    page = _stix_page(14)[0]
    inside, done = threading.Event(), threading.Event()
    seen: list[int] = []

    def baseline() -> None:
        with rec.hard_edges():
            seen.append(for_recognition(page)[1])
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=baseline)
    thread.start()
    assert inside.wait(10)
    # WHEN this thread prepares the same page meanwhile
    _, scale = for_recognition(page)
    done.set()
    thread.join(10)
    # THEN only the switched thread read hard edges; this one still anti-aliases (small text: 2x)
    assert seen == [1] and scale == 2


def test_anti_alias_1x_is_the_2x_path_averaged_down() -> None:
    # GIVEN a black-and-white page
    page, _ = _stix_page(30)
    # WHEN anti-aliased at 1x, and through the 4x-block path area-averaged to 1x instead of 2x
    out = anti_alias_1x(page).astype(np.int64)
    two = anti_alias(page).astype(np.float64)
    down = two.reshape(page.shape[0], 2, page.shape[1], 2).mean(axis=(1, 3))
    # THEN both agree within rounding (the separable filter is the same smoothing)
    assert np.abs(out - down).max() <= 2


def test_recognize_small_binary_text_reads_better_than_hard_edges() -> None:
    # GIVEN black-and-white pages of small serif text in a font the bench corpus does not use
    engine = TesseractRecognizer()
    pages = [_stix_page(px) for px in (12, 14, 16)]
    # WHEN recognized as the service does, and with the anti-aliasing switched off
    with_aa = [cer(text, engine.recognize(page).text) for page, text in pages]
    with rec.hard_edges():
        hard = [cer(text, engine.recognize(page).text) for page, text in pages]
    # THEN the anti-aliased reading makes clearly fewer errors
    assert sum(with_aa) < 0.7 * sum(hard), (with_aa, hard)


def test_recognize_anti_aliased_coordinates_are_those_of_the_input() -> None:
    # GIVEN a black-and-white page of small text, read at 2x
    page, _ = _stix_page(14)
    assert for_recognition(page)[1] == 2
    engine = TesseractRecognizer()
    # WHEN recognized with hOCR and JSON blocks
    out = engine.recognize(page, want_hocr=True, want_blocks=True, offset=(5, 7))
    # THEN every box lies on the input page and the first line starts where its ink does
    h, w = page.shape
    boxes = [tuple(map(int, m)) for m in re.findall(r"bbox (\d+) (\d+) (\d+) (\d+)", out.hocr)]
    assert boxes and all(x1 <= w and y1 <= h for _, _, x1, y1 in boxes)
    ink_rows = np.flatnonzero((page < 128).any(axis=1))
    line = out.blocks[0]["lines"][0]
    assert abs(line["topLeftY"] - 7 - ink_rows[0]) <= 2
    assert abs(line["topLeftX"] - 5 - np.flatnonzero((page < 128).any(axis=0))[0]) <= 2
    assert line["bottomRightX"] - 5 <= w


def test_anti_alias_keeps_the_ink_where_it_was() -> None:
    # GIVEN one black square on white
    page = np.full((20, 20), 255, np.uint8)
    page[5:10, 8:12] = 0
    # WHEN anti-aliased
    out = anti_alias(page)
    # THEN the square's inside is black, far paper white, and the edges gray
    assert out.shape == (40, 40)
    assert out[14:16, 18:22].max() < 30 and out[0:4].min() == 255
    assert 30 < out[10, 20] < 225
