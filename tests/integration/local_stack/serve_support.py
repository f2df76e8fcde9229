"""`ocr-local serve` as a test drives it: started on a free port, its console read line by line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def start_serve(out: Path) -> subprocess.Popen[str]:
    """`python -m local_stack serve --port 0 --out <out>`, unbuffered, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "local_stack", "serve", "--port", "0", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def next_line(
    process: subprocess.Popen[str],
    contains: str,
    deadline: float,
    seen: list[str] | None = None,
    *,
    starts: bool = False,
) -> str:
    """The next console line containing (or, `starts`, starting with) `contains`, read by `deadline`
    (a `time.monotonic()` value); every line read is appended to `seen`."""
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if seen is not None:
            seen.append(line)
        if line.startswith(contains) if starts else contains in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line with {contains!r} in {seen if seen is not None else 'the output'}")
