"""template.yaml with a few lines changed, for tests that need a bound the real template forbids."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def derived_template(tmp: Path, replacements: Mapping[str, str]) -> Path:
    """Write template.yaml with each ``old → new`` applied (each must occur once), paths made absolute."""
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    absolute = {
        "    CodeUri: functions/\n": f"    CodeUri: {ROOT / 'functions'}/\n",
        "      DefinitionUri: infra/ocr_pipeline.asl.json\n": (
            f"      DefinitionUri: {ROOT / 'infra' / 'ocr_pipeline.asl.json'}\n"
        ),
    }
    for old, new in {**absolute, **replacements}.items():
        assert text.count(old) == 1, f"template no longer contains {old!r} exactly once"
        text = text.replace(old, new)
    path = tmp / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path
