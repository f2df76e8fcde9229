"""`make deploy` is guided only until samconfig.toml holds the stack's parameters."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MAKE_TIMEOUT_SECONDS = 60
FAKE_SAM = '#!/bin/sh\necho "sam $*"\n'

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _deploy(tmp_path: Path, samconfig: str) -> list[str]:
    """Run the real `deploy` target beside `samconfig`, with a `sam` that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sam = bin_dir / "sam"
    sam.write_text(FAKE_SAM)
    sam.chmod(0o755)
    (tmp_path / "samconfig.toml").write_text(samconfig)
    completed = subprocess.run(
        ["make", "--no-print-directory", "-s", "-f", str(ROOT / "Makefile"), "deploy", f"BIN={bin_dir}"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT_SECONDS,
        check=True,
    )
    return [line for line in completed.stdout.splitlines() if line.startswith("sam ")]


def test_first_deploy_without_saved_parameters_is_guided(tmp_path: Path) -> None:
    # GIVEN the repository's samconfig.toml (no stack parameters saved yet)
    committed = (ROOT / "samconfig.toml").read_text()

    # WHEN deploying / THEN it builds, then runs the guided deploy
    assert _deploy(tmp_path, committed) == ["sam build --template-file template.yaml", "sam deploy --guided"]


def test_deploy_after_a_guided_run_reuses_samconfig_without_prompting(tmp_path: Path) -> None:
    # GIVEN samconfig.toml as a guided run leaves it (parameter_overrides saved)
    saved = (
        ROOT / "samconfig.toml"
    ).read_text() + 'parameter_overrides = "AlarmEmail=\\"ops@example.com\\""\n'

    # WHEN deploying / THEN plain sam deploy runs
    assert _deploy(tmp_path, saved)[-1] == "sam deploy"
