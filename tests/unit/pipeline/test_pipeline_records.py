"""The records' JSON Schemas: generated from the models, committed, published, and true of real records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest

from ocr_pipeline import schemas
from ocr_pipeline.domain.failure import FailedState, record_failure
from ocr_pipeline.domain.job import check_image, job_config, poll_stage, submit_stage
from ocr_pipeline.domain.models import Stage
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.settings import FailureSettings, OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import (
    BUCKET,
    LAYOUT_ENV,
    OCR_ENV,
    ROOT,
    FakeOcr,
    FakeStore,
    image_bytes,
)

OBJ = ObjectRef(bucket=BUCKET, key="incoming/2026/scan.jpg", version_id="v1", etag="e1", size=None)


def _now() -> datetime:
    return datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def _schema(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (schemas.SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    )
    return data


@pytest.mark.parametrize("name", sorted(schemas.RECORDS))
def test_committed_schema_file_equals_schema_generated_from_model(name: str) -> None:
    # GIVEN the model / WHEN its schema is generated / THEN the committed file is identical
    path = schemas.SCHEMA_DIR / f"{name}.schema.json"
    assert path.read_text(encoding="utf-8") == schemas.schema_text(schemas.RECORDS[name]), (
        "run: python -m ocr_pipeline.schemas"
    )


def test_schema_check_command_passes_on_committed_files() -> None:
    assert schemas.main(["--check"]) == 0


def test_readme_publishes_result_and_failure_schemas() -> None:
    # GIVEN the functions README / WHEN read / THEN it links both record schemas next to the layout
    readme = (ROOT / "functions" / "README.md").read_text(encoding="utf-8")
    assert "schemas/result.schema.json" in readme and "schemas/failure.schema.json" in readme


def test_real_result_record_validates_against_published_schema() -> None:
    # GIVEN a job run through both stages on fakes
    cfg = job_config(load_settings(OcrSettings, {**OCR_ENV, "IN_LAMBDA_POLL_SECONDS": "0"}))
    store = FakeStore({(BUCKET, OBJ.key): image_bytes(120, 80, "JPEG")})
    ocr = FakeOcr(png=image_bytes(120, 80), text="ok")
    job = check_image(OBJ, store=store, cfg=cfg)
    for stage in (Stage.BINARIZE, Stage.RECOGNIZE):
        job = submit_stage(OBJ, job, stage, execution="x", store=store, ocr=ocr, cfg=cfg, clock=_now)
        job = poll_stage(OBJ, job, stage, execution="x", store=store, ocr=ocr, cfg=cfg, clock=_now)
    # WHEN the written record is validated / THEN it conforms to the published schema
    jsonschema.validate(store.json("results/2026/scan.jpg.json"), _schema("result"))


def test_real_failure_record_validates_against_published_schema() -> None:
    # GIVEN a failed state as a Catch hands it over
    state = FailedState.model_validate(
        {
            "object": OBJ.to_payload(),
            "error": {"Error": "InvalidImage", "Cause": "x"},
            "failed_stage": "check_image",
        }
    )
    store = FakeStore()
    layout = load_settings(FailureSettings, LAYOUT_ENV)
    # WHEN recorded / THEN the record conforms and names the stage
    record_failure(state, execution="x", status="FAILED", store=store, layout=layout, clock=_now)
    record = store.json("failed/2026/scan.jpg.json")
    jsonschema.validate(record, _schema("failure"))
    assert record["stage"] == "check_image"


def test_failure_with_unreadable_job_is_still_recorded_without_it() -> None:
    # GIVEN a failed state whose job does not match the model
    state = FailedState.model_validate(
        {"object": OBJ.to_payload(), "job": {"stage": 42}, "error": {"Error": "X", "Cause": "y"}}
    )
    store = FakeStore()
    # WHEN recorded / THEN the record is written, without the job's details
    record_failure(
        state,
        execution="x",
        status="FAILED",
        store=store,
        layout=load_settings(FailureSettings, LAYOUT_ENV),
        clock=_now,
    )
    assert state.job is None and store.json("failed/2026/scan.jpg.json")["error_type"] == "X"
