"""JSON Schemas of the records the pipeline writes to S3, generated from their models.

``python -m ocr_pipeline.schemas`` rewrites ``functions/schemas/*.schema.json``; a test checks the files
match the models, so the published contract cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ocr_pipeline.domain.failure import FailedState
from ocr_pipeline.domain.models import FailureRecord, Job, ResultRecord
from ocr_pipeline.domain.submission import SubmissionRecord

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
RECORDS: dict[str, type[BaseModel]] = {
    "result": ResultRecord,
    "failure": FailureRecord,
    "submission": SubmissionRecord,
    "job": Job,
    "failed-state": FailedState,
}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (serialization mode: what is written, not what is accepted)."""
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text(model: type[BaseModel]) -> str:
    """The schema as the committed file holds it."""
    return json.dumps(schema_of(model), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write every schema file; with ``--check``, only report files that differ (exit 1)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name, model in RECORDS.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        text = schema_text(model)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale schema files: {', '.join(stale)}; run python -m ocr_pipeline.schemas", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
