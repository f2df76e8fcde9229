"""The local drop folder driven by the AWS CLI, as its README says: paste the printed `export` line, then
`aws s3 cp` an image in, list the executions and read the text back out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_stack.samples import cer, truth_path
from tests.integration.local_stack.serve_support import ROOT, next_line, start_serve

AWS = Path(sys.executable).with_name("aws")
IMAGE = ROOT / "events" / "images" / "clean.png"
DEADLINE = 90.0
CLI_TIMEOUT = 60.0
MULTIPART_CONFIG = "[default]\ns3 =\n  multipart_threshold = 16KB\n  multipart_chunksize = 5MB\n"
"""An AWS CLI configuration under which `aws s3 cp` uploads the 40 KB sample in parts, as it does any
file over 8 MB by default (scans and phone photos often are)."""

pytestmark = pytest.mark.slow


def test_aws_cli_uploads_in_parts_lists_the_execution_and_reads_the_text(tmp_path: Path) -> None:
    # GIVEN a serving drop folder and the AWS CLI configured by its printed export line, uploading in parts
    assert AWS.is_file(), f"the AWS CLI is a dev dependency (make install): {AWS}"
    config = tmp_path / "aws-config"
    config.write_text(MULTIPART_CONFIG, encoding="utf-8")
    process = start_serve(tmp_path / "out")
    deadline = time.monotonic() + DEADLINE
    seen: list[str] = []
    try:
        exports = next_line(process, "export AWS_ENDPOINT_URL=", deadline, seen).split()[1:]
        bucket = next_line(process, "bucket", deadline, seen).split()[1]
        machine = next_line(process, "state machine", deadline, seen).split()[2]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **dict(item.split("=", 1) for item in exports),
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        }

        def aws(*args: str) -> str:
            done = subprocess.run(
                [str(AWS), *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        # WHEN the image is copied in, and its execution is reported finished
        key = "incoming/cli/clean.png"
        aws("s3", "cp", str(IMAGE), f"s3://{bucket}/{key}")
        finished = next_line(process, key, deadline, seen, starts=True)  # the execution's line
        statuses = aws(
            "stepfunctions", "list-executions", "--state-machine-arn", machine,
            "--query", "executions[].status", "--output", "text",
        )  # fmt: skip
        text = aws("s3", "cp", f"s3://{bucket}/text/cli/clean.png.txt", "-")
        listing = aws("s3", "ls", f"s3://{bucket}/", "--recursive")
    finally:
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)

    # THEN one upload made one execution, which succeeded (no duplicate notification for the parts)
    assert "SUCCEEDED" in finished
    assert statuses.split() == ["SUCCEEDED"]
    assert not [line for line in [*seen, *remaining.splitlines()] if "duplicate upload" in line]
    # THEN the text read back through the CLI is the image's, and the original is still in place
    assert cer(truth_path(IMAGE).read_text(encoding="utf-8"), text) < 0.05
    assert key in listing and "text/cli/clean.png.txt" in listing
    assert process.returncode == 0
