"""The run summary and report: every status check counted, CER against truth files, failures highlighted."""

from __future__ import annotations

import json
from pathlib import Path

from local_stack.executions import ExecutionRecord
from local_stack.report import LocalOutputs, summary_table, totals_line, write_html


def _outputs(tmp_path: Path, record: dict[str, object] | None) -> LocalOutputs:
    results = None
    if record is not None:
        results = tmp_path / "scan.json"
        results.write_text(json.dumps(record), encoding="utf-8")
    text = tmp_path / "scan.txt"
    text.write_text("hello", encoding="utf-8")
    return LocalOutputs("incoming/scan.png", None, text, None, results, None)


def _row(tmp_path: Path, record: dict[str, object] | None, polls: int) -> list[str]:
    execution = ExecutionRecord(
        key="incoming/scan.png", status="SUCCEEDED", seconds=1.0, polls=polls, transitions=3
    )
    table = summary_table([execution], {execution.key: _outputs(tmp_path, record)})
    return table.splitlines()[1].split()


def test_summary_shows_in_lambda_checks_next_to_wait_loop_polls(tmp_path: Path) -> None:
    # GIVEN a result record saying Submit checked the task 4 times itself, and 1 Wait-loop poll
    # WHEN the summary row is built
    row = _row(tmp_path, {"in_lambda_polls": 4}, polls=1)

    # THEN the polls column shows both counts, and the characters of the text
    assert row[1:8] == ["SUCCEEDED", "1.0", "5", "-", "-", "-", "1+4"]


def test_summary_without_result_record_shows_wait_loop_polls_only(tmp_path: Path) -> None:
    # GIVEN no result record (a failed image)
    # WHEN / THEN the polls column is the Wait loop's count alone
    assert _row(tmp_path, None, polls=2)[7] == "2"


def test_summary_with_truth_file_shows_character_error_rate(tmp_path: Path) -> None:
    # GIVEN a recognized "hello" and a truth file saying "hallo"
    truth = tmp_path / "scan.truth.txt"
    truth.write_text("hallo\n", encoding="utf-8")
    execution = ExecutionRecord(key="incoming/scan.png", status="SUCCEEDED", seconds=1.0)

    # WHEN the summary row is built with the truth file
    table = summary_table([execution], {execution.key: _outputs(tmp_path, None)}, {execution.key: truth})

    # THEN the cer column shows one edit in five characters
    assert table.splitlines()[1].split()[4] == "20.0%"


def test_report_highlights_a_failed_row_with_its_failure_record(tmp_path: Path) -> None:
    # GIVEN a failed execution and its failure record
    failed = tmp_path / "failed.json"
    failed.write_text(json.dumps({"stage": "submit", "error_type": "ImageTooLarge"}), encoding="utf-8")
    local = LocalOutputs("incoming/big.png", None, None, None, None, failed)
    execution = ExecutionRecord(key="incoming/big.png", status="FAILED", seconds=1.0)

    # WHEN the report is written
    report = write_html(tmp_path / "report.html", [execution], {execution.key: local}, 1.0)

    # THEN the row is marked failed and names the stage and error, not raw JSON
    document = report.read_text(encoding="utf-8")
    assert '<tr class="failed">' in document
    assert "submit / ImageTooLarge" in document and "&quot;stage&quot;" not in document


def test_summary_shows_stages_and_api_calls_from_the_result_record(tmp_path: Path) -> None:
    # GIVEN a result record: binarize then recognize, 2 POSTs and 2 GETs to the OCR API
    record = {"steps": ["binarize", "recognize"], "calls": {"posts": 2, "gets": 2}}
    execution = ExecutionRecord(key="incoming/scan.png", status="SUCCEEDED", seconds=1.0, transitions=7)
    outputs = {execution.key: _outputs(tmp_path, record)}

    # WHEN the summary row and the totals line are built
    row = summary_table([execution], outputs).splitlines()[1].split()
    totals = totals_line([execution], 6.0, outputs)

    # THEN the row names the stages and the calls, and the totals give calls per image
    assert row[5:7] == ["binarize>recognize", "4"]
    assert totals.endswith("transitions/image 7.0 · API calls/image 4.0")
