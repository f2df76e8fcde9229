"""Smoke test: the whole benchmark in --quick mode writes every result and loses no object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import NAMES, main


@pytest.mark.slow
def test_bench_quick_writes_every_result_and_loses_nothing(tmp_path: Path) -> None:
    # GIVEN an empty results folder
    # WHEN the quick benchmark runs
    status = main(["--quick", "--out", str(tmp_path)])

    # THEN it succeeds, writes one JSON per benchmark, the summary and plots
    assert status == 0
    for name in NAMES:
        assert (tmp_path / f"{name}.json").is_file(), name
    summary = (tmp_path / "SUMMARY.md").read_text(encoding="utf-8")
    assert "## Cost per 1,000 images" in summary
    assert (tmp_path / "binarization.png").is_file()
    # AND every object of the burst has a text output or a failure record
    burst = json.loads((tmp_path / "throughput.json").read_text(encoding="utf-8"))["stack"]
    assert burst["lost"] == 0
    assert burst["texts"] + burst["failure_records"] == burst["burst"]
    # AND its AWS requests were counted per image, the uploads excepted: the functions read each upload
    # twice and the binarized page once, and the cost model priced DynamoDB from them
    requests = burst["aws_requests_per_image"]
    assert requests["s3 GET"] == 3.0 and requests["states StartExecution"] == 1.0
    cost = json.loads((tmp_path / "cost.json").read_text(encoding="utf-8"))
    assert cost["per_1000_images"]["standard_measured (template defaults)"]["dynamodb"] > 0
    # AND the fault-injected burst accounted for every object too
    faulty = json.loads((tmp_path / "burst.json").read_text(encoding="utf-8"))
    assert faulty["lost"] == 0
    assert faulty["texts"] + faulty["failure_records"] == faulty["burst"]
    assert faulty["aws_requests_per_image"]["states StartExecution"] == 1.0
