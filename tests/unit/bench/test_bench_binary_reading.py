"""The bench section reading black-and-white pages of faces outside the corpus."""

from __future__ import annotations

import pytest

from bench import binary_reading
from bench.report import binary_reading_md
from ocr_service.engines import recognize


def test_binary_reading_reports_every_page_set_and_restores_the_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN one held-out face, small pages, one size per set and one binarized degraded page
    monkeypatch.setattr(binary_reading, "HELD_OUT_FONTS", {"stix": "STIXGeneral.ttf"})
    monkeypatch.setattr(binary_reading, "PAGE_SIZE", (520, 240))
    monkeypatch.setattr(binary_reading, "SIZES", (26,))
    monkeypatch.setattr(binary_reading, "BINARIZED_SIZES", (26,))
    monkeypatch.setattr(binary_reading, "BINARIZED_DEGRADATIONS", ("clean",))
    monkeypatch.setattr(binary_reading, "PHOTO_SIZES", (26,))
    # WHEN the section runs in quick mode
    result = binary_reading.run(quick=True)
    # THEN every column is scored on every set, CPU is counted, and the service's switch is back on
    assert result["pages"] == 1 and result["binarized"]["pages"] == 1 and result["photos"]["pages"] == 1
    assert set(result["mean_cer_percent"]) == set(binary_reading.COLUMNS)
    assert set(result["binarized"]["mean_cer_percent"]) == {binary_reading.RAW, *binary_reading.COLUMNS}
    assert set(result["binarized"]["cer_percent_by_degradation"]) == {"clean"}
    assert all(0.0 <= v < 5.0 for v in result["binarized"]["mean_cer_percent"].values())
    assert set(result["photos"]["mean_cer_percent"]) == set(binary_reading.PHOTO_COLUMNS)
    assert all(0.0 <= v < 10.0 for v in result["photos"]["mean_cer_percent"].values())
    assert min(result["cpu_seconds"].values()) > 0.0 and min(result["photos"]["cpu_seconds"].values()) > 0.0
    assert recognize._ANTI_ALIASING.get() is True
    # AND the report renders every table
    text = "\n".join(binary_reading_md(result))
    assert "Binarized degraded pages" in text and "| 26 px |" in text and "Binarized phone photos" in text
