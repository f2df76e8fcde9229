"""The Lambda deployment package pins exactly what the development environment runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(\[[^\]]+\])?==(?P<version>\S+)$")


def _pins(lines: list[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        text = line.strip()
        if not text or text.startswith(("#", "-r ")):
            continue
        match = PIN.match(text)
        assert match, f"not pinned with ==: {text!r}"
        pins[match["name"].lower().replace("_", "-")] = match["version"]
    return pins


def test_every_lambda_requirement_is_pinned_like_the_development_environment() -> None:
    # GIVEN the Lambda requirements, the project's direct pins and the full constraints
    lambda_pins = _pins(
        [
            line
            for path in (ROOT / "functions" / "requirements").glob("*.txt")
            for line in path.read_text().splitlines()
        ]
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    direct = _pins(list(project))
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())

    # WHEN / THEN each Lambda pin equals the project's pin or, for transitive packages, the constraint
    for name, version in lambda_pins.items():
        expected = direct.get(name, constraints.get(name))
        assert expected == version, f"{name}: Lambda pins {version}, project pins {expected}"
