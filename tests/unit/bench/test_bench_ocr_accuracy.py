"""Summary of the OCR-accuracy section: per-degradation means, the exact-mask column optional."""

from __future__ import annotations

from pathlib import Path

from bench.common import png_bytes
from bench.corpus import Sample, degrade, make_page
from bench.ocr_accuracy import COLUMNS, ImageResult, request_bytes, summarise
from bench.report import ocr_md, plots


def _result(name: str, degradation: str, cer: dict[str, float]) -> ImageResult:
    return ImageResult(name=name, degradation=degradation, cer=cer, stats={})


def test_summarise_averages_the_ink_mask_column_only_where_a_mask_is_known(tmp_path: Path) -> None:
    # GIVEN two blurred pages with every column, and the real scan without an ink mask
    full = dict.fromkeys(COLUMNS, 0.01)
    results = [
        _result("a", "blur", full),
        _result("b", "blur", {**full, "ink_mask": 0.03}),
        _result("scan", "real_scan", {"raw": 0.2, "binarized": 0.1, "engine_otsu": 0.4}),
    ]
    # WHEN summarised, rendered and plotted
    summary = summarise(results)
    table = "\n".join(ocr_md(summary))
    written = plots({"ocr_accuracy": summary}, tmp_path)
    # THEN the mask column is the mean of the pages that have it, and the scan's cell is a dash
    assert summary["cer_percent"]["blur"]["ink_mask"] == 2.0
    assert "ink_mask" not in summary["cer_percent"]["real_scan"]
    assert summary["mean_cer_degraded_percent"]["ink_mask"] == 2.0
    assert "| real_scan | 20.00 | 10.00 | 40.00 | - |" in table
    assert [p.name for p in written] == ["ocr_accuracy.png"] and written[0].stat().st_size > 0


def test_request_bytes_sends_a_jpeg_page_as_its_jpeg_and_others_as_png() -> None:
    # GIVEN a page with the JPEG degradation and one with noise
    page = make_page(4, width=400, height=240)
    jpeg = Sample("j", "jpeg", degrade(page, "jpeg", seed=4))
    noisy = Sample("n", "noise", degrade(page, "noise", seed=4))
    # WHEN the bytes to send are chosen
    # THEN the JPEG page goes as the very bytes it was decoded from, the other as PNG
    assert jpeg.page.encoded is not None and request_bytes(jpeg) == jpeg.page.encoded
    assert request_bytes(noisy) == png_bytes(noisy.page.image)
