"""The benchmark commands' user errors: one line on stderr and exit 2, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("module", "args", "names"),
    [
        ("bench", ["--only", "nope"], "--only"),
        ("bench", ["--out", "{file}/results", "--only", "auto_mode"], "--out"),
        ("bench.burst", ["--burst", "0"], "--burst"),
        ("bench.burst", ["--out", "{file}/results"], "--out"),
        ("bench.samples", ["--out", "{file}/images"], "--out"),
        ("bench.binarization_identity", ["--bogus"], "--bogus"),
    ],
)
def test_bench_user_error_is_one_line_and_exit_2(
    module: str, args: list[str], names: str, tmp_path: Path
) -> None:
    # GIVEN a bad option (a results folder under a file, an unknown name, a burst of nothing)
    file = tmp_path / "a-file"
    file.write_text("x", encoding="utf-8")
    argv = [a.format(file=file) for a in args]
    # WHEN the command is run
    done = subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # THEN it exits 2 with one line naming the option, no traceback, and nothing was written
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], done.stderr
    assert done.stdout == ""
    assert file.read_text(encoding="utf-8") == "x"
