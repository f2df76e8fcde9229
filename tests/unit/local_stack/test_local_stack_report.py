"""The run summary counts every status check, the Wait loop's and those made inside Submit."""

from __future__ import annotations

import json
from pathlib import Path

from local_stack.executions import ExecutionRecord
from local_stack.outputs import LocalOutputs
from local_stack.report import summary_table


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
    assert row[1:5] == ["SUCCEEDED", "1.0", "5", "1+4"]


def test_summary_without_result_record_shows_wait_loop_polls_only(tmp_path: Path) -> None:
    # GIVEN no result record (a failed image)
    # WHEN / THEN the polls column is the Wait loop's count alone
    assert _row(tmp_path, None, polls=2)[4] == "2"
