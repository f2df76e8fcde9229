"""`ocr-local` as a user meets it: user errors in one line and exit 2, `invoke` with an event, `serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "local_stack"]
DEADLINE = 60.0


def _cli(*args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_busy_port_exits_2_with_one_line_naming_the_port(busy_port: int, tmp_path: Path) -> None:
    # GIVEN a port another program holds
    started = time.monotonic()

    # WHEN serve is asked to use it
    result = _cli("serve", "--port", str(busy_port), "--out", str(tmp_path), timeout=30)

    # THEN it exits 2 within seconds with one line naming the port
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"port {busy_port}" in result.stderr
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("Bogus=1", "unknown parameter Bogus; the template declares: BucketNamePrefix"),
        ("BinarizationMode=weird", "allowed values: endpoint, inline, off, auto"),
        ("MaxPolls=0", "MaxPolls=0 is out of range; allowed values: 1 to 500"),
        ("NoEquals", "--param expects Key=Value"),
    ],
)
def test_run_with_a_bad_param_exits_2_with_one_line_naming_it(
    param: str, expected: str, tmp_path: Path
) -> None:
    # GIVEN / WHEN a run with a bad template parameter
    result = _cli("run", "--param", param, "--out", str(tmp_path), timeout=30)

    # THEN it exits 2 with one line naming the parameter and what is allowed, no traceback
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_unknown_function_exits_2_listing_the_functions(tmp_path: Path) -> None:
    # GIVEN / WHEN invoke names no function of the template
    result = _cli("invoke", "Nope", "-e", "events/s3_put.json", "--out", str(tmp_path))

    # THEN one line lists the template's functions
    assert result.returncode == 2
    assert "no function 'Nope'" in result.stderr and "OnUploadFunction" in result.stderr


@pytest.mark.slow
def test_invoke_with_an_events_fixture_prints_the_result_and_the_function_log(tmp_path: Path) -> None:
    # GIVEN the S3 put event fixture
    # WHEN the upload function is invoked with it
    result = _cli("invoke", "OnUploadFunction", "-e", "events/s3_put.json", "--out", str(tmp_path))

    # THEN the result is on stdout as JSON, the function's log and REPORT line on stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["started"] == 1
    assert '"message":"started"' in result.stderr and "REPORT RequestId:" in result.stderr


def _line(process: subprocess.Popen[str], contains: str, deadline: float) -> str:
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if contains in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line with {contains!r}")


@pytest.mark.slow
def test_serve_prints_exports_reports_each_upload_and_totals_on_sigterm(tmp_path: Path) -> None:
    # GIVEN a serving stack on a free port
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + DEADLINE
    try:
        exports = _line(process, "export AWS_ENDPOINT_URL=", deadline).split()
        variables = dict(item.split("=", 1) for item in exports[1:])
        bucket = _line(process, "bucket", deadline).split()[1]
        assert "arn:aws:states:" in _line(process, "state machine", deadline)

        # WHEN an image is uploaded twice with the same bytes, through the printed endpoint
        s3 = boto3.client(
            "s3",
            endpoint_url=variables["AWS_ENDPOINT_URL"],
            region_name=variables["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        data = (ROOT / "events" / "images" / "clean.png").read_bytes()
        s3.put_object(Bucket=bucket, Key="incoming/clean.png", Body=data)
        finished = _line(process, "incoming/clean.png", deadline)
        s3.put_object(Bucket=bucket, Key="incoming/clean.png", Body=data)
        duplicate = _line(process, "duplicate upload", deadline)
    finally:
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)

    # THEN the execution was reported, the duplicate named, the report written and totals printed
    assert "SUCCEEDED" in finished and "incoming/clean.png" in duplicate
    assert "1 images" in remaining and process.returncode == 0
    assert "incoming/clean.png" in (tmp_path / "report.html").read_text(encoding="utf-8")
