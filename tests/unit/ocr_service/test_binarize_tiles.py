"""The binarizer's banded, parallel pass: same result as one pass, bands that cover the page once."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.corpus import degrade, make_page, photo_pages
from bench.metrics import f_measure
from ocr_service.engines import tiles
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize, to_gray
from ocr_service.engines.darkness import darkness_and_stats
from ocr_service.engines.scale import closing_background, stroke_width
from ocr_service.engines.threshold import (
    darkness8,
    edge_sharpness,
    global_level,
    gradient8,
    hist_quantile,
    histogram,
    sample_rows,
)


def test_bands_cover_every_row_once_with_margins_inside_the_page() -> None:
    # GIVEN 1000 rows cut in 3 bands with a 40-row margin
    bands = tiles.bands(1000, 3, 40)
    # THEN the interiors tile the rows exactly and the margins stay within the page
    assert [(a, b) for a, b, _, _ in bands] == [(0, 333), (333, 667), (667, 1000)]
    assert [(a0, b0) for _, _, a0, b0 in bands] == [(0, 373), (293, 707), (627, 1000)]


def test_run_rows_maps_source_rows_onto_a_taller_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a job that writes each output row's own source row index (source 300 rows, output 600)
    def job(rows: slice, out_rows: slice) -> NDArray[Any]:
        r = np.arange(out_rows.start, out_rows.stop) * 300 // 600
        assert rows.start <= r.min() and r.max() < rows.stop
        return np.repeat((r % 251).astype(np.uint8)[:, None], 4, axis=1)

    out = np.zeros((600, 4), np.uint8)
    # WHEN run in bands of at least 50 source rows on 2 workers
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    tiles.run_rows(300, out, 20, job, min_band=50)
    # THEN every output row holds the value of its own source row, seams included
    expected = (np.arange(600) * 300 // 600 % 251).astype(np.uint8)
    assert np.array_equal(out[:, 0], expected)


@pytest.fixture(scope="module")
def a4_shadow() -> tuple[NDArray[Any], NDArray[Any]]:
    page = degrade(make_page(3, width=2480, height=3508, font="serif", font_px=42), "shadow", 3)
    return page.image, page.ink


def test_banded_binarization_matches_a_single_pass(
    a4_shadow: tuple[NDArray[Any], NDArray[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an A4 300 dpi page with a shadow
    image, ink = a4_shadow
    # WHEN binarized in one pass and in 2 parallel bands
    monkeypatch.setattr(tiles, "workers", lambda: 1)
    single = binarize(image)
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    banded = binarize(image)
    # THEN the outputs agree on all but a sliver of pixels and the ink F-measure holds
    assert float(np.mean(single == banded)) > 0.9995
    assert f_measure(banded == 0, ink) > 98.0
    assert abs(f_measure(banded == 0, ink) - f_measure(single == 0, ink)) < 0.1


def test_stroke_width_in_bands_equals_one_pass(
    a4_shadow: tuple[NDArray[Any], NDArray[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the ink mask of an A4 page (3508 rows: several bands)
    ink = a4_shadow[1].astype(np.uint8) * 255
    # WHEN its stroke width is measured in one pass and in 2 parallel bands
    monkeypatch.setattr(tiles, "workers", lambda: 1)
    single = stroke_width(ink)
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    banded = stroke_width(ink)
    # THEN both give the same width (the band margins exceed every stroke's half-width)
    assert banded == pytest.approx(single)
    assert 3.0 < single < 8.0


def test_run_rows_inside_a_band_runs_inline_instead_of_waiting_on_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a 2-worker pool and a job that itself runs bands (as a nested call would)
    monkeypatch.setattr(tiles, "workers", lambda: 2)

    def inner(rows: slice, out_rows: slice) -> NDArray[Any]:
        return np.full((out_rows.stop - out_rows.start, 2), 7, np.uint8)

    def outer(rows: slice, out_rows: slice) -> NDArray[Any]:
        part = np.zeros((out_rows.stop - out_rows.start, 2), np.uint8)
        tiles.run_rows(part.shape[0], part, 4, inner, min_band=10)
        return part

    out = np.zeros((400, 2), np.uint8)
    # WHEN run (on both workers at once) THEN it completes, every row filled by the inner job
    future = tiles._executor().submit(tiles.run_rows, 400, out, 8, outer, min_band=50)
    future.result(timeout=30)
    assert int(out.min()) == 7


def test_map_rows_hands_each_band_its_own_rows_inside_its_margins(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 1000 rows on 2 workers, a 30-row margin, and a job that returns the page rows it owns
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    rows = np.arange(1000)

    def job(band: slice, own: slice) -> NDArray[Any]:
        assert own.start >= 0 and own.stop <= band.stop - band.start
        return rows[band][own]

    # WHEN mapped over the bands
    parts = tiles.map_rows(1000, 30, job, min_band=100)
    # THEN there are 2 parts, and together, in order, they hold every row exactly once
    assert len(parts) == 2
    assert np.array_equal(np.concatenate(parts), rows)


def test_submit_runs_next_to_the_caller_and_inline_on_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a job that itself runs bands
    def job(n: int) -> int:
        out = np.zeros((n, 1), np.uint8)
        tiles.run_rows(
            n, out, 4, lambda rows, out_rows: np.ones((out_rows.stop - out_rows.start, 1)), min_band=10
        )
        return int(out.sum())

    # WHEN submitted on 2 workers and on 1 THEN both give the job's result (no wait on the pool)
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    assert tiles.submit(job, 200).result(timeout=30) == 200
    monkeypatch.setattr(tiles, "workers", lambda: 1)
    assert tiles.submit(job, 50).result(timeout=0) == 50


def test_darkness_and_statistics_in_bands_equal_the_single_pass_functions(
    a4_shadow: tuple[NDArray[Any], NDArray[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the working copy of an A4 page and its paper background
    gray = cv2.resize(to_gray(a4_shadow[0]), (1240, 1754), interpolation=cv2.INTER_AREA)
    background = closing_background(gray, 15)
    sw = 2.0
    # WHEN the darkness, jump and statistics are computed in 2 parallel bands
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    dark, jump, stats = darkness_and_stats(gray, background, sw, DEFAULT_PARAMS)
    # THEN every value is the one the single-pass functions give on the whole page
    assert np.array_equal(dark, darkness8(gray, background))
    assert np.array_equal(jump, gradient8(dark))
    assert stats.level == global_level(dark, DEFAULT_PARAMS)
    assert stats.sharpness == edge_sharpness(dark, jump, sw, stats.level, DEFAULT_PARAMS)
    assert stats.contrast == hist_quantile(histogram(sample_rows(jump)), 0.999)
    assert 0.5 < stats.sharpness <= 1.0


def test_pages_binarized_from_several_threads_at_once_equal_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN three different pages (a shadow, an inverted block, a photo) and a 2-worker pool
    monkeypatch.setattr(tiles, "workers", lambda: 2)
    pages = [
        degrade(make_page(11, width=900, height=700, font_px=24), "shadow", 11).image,
        degrade(make_page(12, width=900, height=700, font_px=24), "inverted_region", 12).image,
        next(iter(photo_pages(quick=True, width=900, height=700))).page.image,
    ]
    alone = [binarize(page) for page in pages]
    # WHEN binarized from three threads at once (their bands and side jobs share the pool)
    with ThreadPoolExecutor(max_workers=3) as callers:
        together = [f.result(timeout=120) for f in [callers.submit(binarize, page) for page in pages]]
    # THEN each comes back exactly as it did alone
    for one, other in zip(alone, together, strict=True):
        assert np.array_equal(one, other)


def test_serial_opencv_restores_the_thread_setting_after_nested_use() -> None:
    from ocr_service.engines import tiles

    before = cv2.getNumThreads()
    with tiles.serial_opencv():
        inside = cv2.getNumThreads()
        with tiles.serial_opencv():
            assert cv2.getNumThreads() == inside
        assert cv2.getNumThreads() == inside
    assert cv2.getNumThreads() == before
    if tiles.workers() >= 2:
        assert inside == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_serial_opencv_is_undone_in_a_child_forked_inside_it() -> None:
    # GIVEN OpenCV's thread setting outside any band
    before = cv2.getNumThreads()
    with tiles.serial_opencv():
        # WHEN the process forks while a band holds OpenCV single-threaded
        pid = os.fork()
        if pid == 0:
            # THEN the child (where no band runs) has the setting from before the band
            os._exit(0 if cv2.getNumThreads() == before else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cv2.getNumThreads() == before
