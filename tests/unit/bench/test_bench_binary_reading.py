"""The bench section reading black-and-white pages of faces outside the corpus."""

from __future__ import annotations

import pytest

from bench import binary_reading
from bench.report import binary_reading_md
from ocr_service.engines import recognize


def test_binary_reading_reports_both_page_sets_and_restores_the_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN one held-out face, one thresholded size and one binarized degraded page
    monkeypatch.setattr(binary_reading, "HELD_OUT_FONTS", {"stix": "STIXGeneral.ttf"})
    monkeypatch.setattr(binary_reading, "SIZES", (26,))
    monkeypatch.setattr(binary_reading, "BINARIZED_SIZES", (26,))
    monkeypatch.setattr(binary_reading, "BINARIZED_DEGRADATIONS", ("clean",))
    # WHEN the section runs in quick mode
    result = binary_reading.run(quick=True)
    # THEN every column is scored on both sets, CPU is counted, and the service's switch is back on
    assert result["pages"] == 2 and result["binarized"]["pages"] == 1
    assert set(result["mean_cer_percent"]) == set(binary_reading.COLUMNS)
    assert set(result["binarized"]["mean_cer_percent"]) == {binary_reading.RAW, *binary_reading.COLUMNS}
    assert set(result["binarized"]["cer_percent_by_degradation"]) == {"clean"}
    assert all(0.0 <= v < 5.0 for v in result["binarized"]["mean_cer_percent"].values())
    assert min(result["cpu_seconds"].values()) > 0.0
    assert recognize.ANTI_ALIASING is True
    # AND the report renders both tables
    text = "\n".join(binary_reading_md(result))
    assert "Binarized degraded pages" in text and "| 26 px |" in text
