"""`make help` lists every target the Makefile declares."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_phony_target_including_names_with_digits() -> None:
    # GIVEN the targets the Makefile declares phony
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    declared = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert declared is not None
    targets = set(declared.group(1).split())

    # WHEN make help runs
    listing = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )

    # THEN each of them has a line (test-e2e too)
    listed = {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}
    assert targets <= listed, targets - listed
    assert "test-e2e" in listed
