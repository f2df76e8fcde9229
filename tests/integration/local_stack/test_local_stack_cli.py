"""`ocr-local` end to end: `invoke` with an event fixture, `serve` with uploads (user errors: unit tests)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.integration.local_stack.serve_support import next_line, start_serve

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "local_stack"]
DEADLINE = 60.0


def _cli(*args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_invoke_with_an_events_fixture_prints_the_result_and_the_function_log(tmp_path: Path) -> None:
    # GIVEN the S3 put event fixture
    # WHEN the upload function is invoked with it
    result = _cli("invoke", "OnUploadFunction", "-e", "events/s3_put.json", "--out", str(tmp_path))

    # THEN the result is on stdout as JSON, the function's log and REPORT line on stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["started"] == 1
    assert '"message":"started"' in result.stderr and "REPORT RequestId:" in result.stderr


@pytest.mark.slow
def test_serve_prints_exports_reports_each_upload_and_totals_on_sigterm(tmp_path: Path) -> None:
    # GIVEN a serving stack on a free port
    process = start_serve(tmp_path)
    deadline = time.monotonic() + DEADLINE
    try:
        exports = next_line(process, "export AWS_ENDPOINT_URL=", deadline).split()
        variables = dict(item.split("=", 1) for item in exports[1:])
        bucket = next_line(process, "bucket", deadline).split()[1]
        assert "arn:aws:states:" in next_line(process, "state machine", deadline)

        # WHEN an image is uploaded through the printed endpoint, and its notification is delivered
        # again (S3 delivers at least once)
        endpoint = {
            "endpoint_url": variables["AWS_ENDPOINT_URL"],
            "region_name": variables["AWS_DEFAULT_REGION"],
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        s3 = boto3.client("s3", **endpoint)
        data = (ROOT / "events" / "images" / "clean.png").read_bytes()
        s3.put_object(Bucket=bucket, Key="incoming/clean.png", Body=data)
        finished = next_line(process, "incoming/clean.png", deadline)
        head = s3.head_object(Bucket=bucket, Key="incoming/clean.png")
        obj = {"key": "incoming/clean.png", "eTag": head["ETag"].strip('"'), "versionId": head["VersionId"]}
        record = {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": obj},
        }
        boto3.client("lambda", **endpoint).invoke(
            FunctionName="ocr-local-OnUploadFunction",
            InvocationType="Event",
            Payload=json.dumps({"Records": [record]}),
        )
        duplicate = next_line(process, "duplicate upload", deadline)
    finally:
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)

    # THEN the execution was reported, the duplicate named, the report written and totals printed
    assert "SUCCEEDED" in finished and "incoming/clean.png" in duplicate
    assert "1 images" in remaining and process.returncode == 0
    assert "incoming/clean.png" in (tmp_path / "report.html").read_text(encoding="utf-8")
