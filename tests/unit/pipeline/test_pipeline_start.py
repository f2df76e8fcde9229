"""The on-upload step: parsing S3 notifications and starting one execution per object."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from ocr_pipeline.domain.keys import SkipReason
from ocr_pipeline.domain.start import ObjectRef, StartOutcome, start_executions
from tests.unit.pipeline.pipeline_support import ON_UPLOAD_ENV, import_fresh, load_event


class RecordingWorkflow:
    """Starts nothing; remembers names and answers "already exists" for repeats."""

    def __init__(self) -> None:
        self.started: dict[str, Mapping[str, Any]] = {}

    def start(self, name: str, payload: Mapping[str, Any]) -> bool:
        if name in self.started:
            return False
        self.started[name] = payload
        return True


@pytest.fixture
def on_upload(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {**ON_UPLOAD_ENV, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    return import_fresh("ocr_pipeline.handlers.on_upload")


def _start(objects: list[ObjectRef], workflow: RecordingWorkflow) -> list[Any]:
    return start_executions(
        objects,
        workflow=workflow,
        input_prefix="incoming/",
        output_prefixes=("text/", "binarized/", "results/", "failed/"),
        suffixes={"png", "jpg", "tiff"},
        clock=lambda: datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
    )


def test_objects_of_plus_encoded_key_decodes_space_and_plus(on_upload: Any) -> None:
    # GIVEN a notification whose key has "+" (space) and "%2B" (a literal plus)
    event = load_event("s3_put_encoded_key")
    # WHEN parsed
    [obj] = on_upload.objects_of(event)
    # THEN the key is the real object key
    assert obj.key == "incoming/2026/my scan+1 (copy).JPG"


def test_objects_of_versioned_event_carries_version_and_etag(on_upload: Any) -> None:
    # GIVEN a notification from a versioned bucket / WHEN parsed
    [obj] = on_upload.objects_of(load_event("s3_put_versioned"))
    # THEN both identities are kept and the version id wins
    assert (obj.version_id, obj.etag) == (
        "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY",
        "0123456789abcdef0123456789abcdef",
    )
    assert obj.version == obj.version_id


def test_objects_of_s3_test_event_yields_nothing(on_upload: Any) -> None:
    # GIVEN the test event S3 sends when a notification is configured / WHEN parsed / THEN nothing to do
    assert on_upload.objects_of({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []


def test_start_executions_mixed_records_starts_only_images_under_input(on_upload: Any) -> None:
    # GIVEN a notification with an image, an output, a foreign prefix, a pdf and an upper-case TIFF
    workflow = RecordingWorkflow()
    # WHEN executions are started
    results = _start(on_upload.objects_of(load_event("s3_put_mixed")), workflow)
    # THEN exactly the two images under incoming/ start, the rest are skipped with reasons
    outcomes = {r.key: (r.outcome, r.reason) for r in results}
    assert outcomes == {
        "incoming/a.png": (StartOutcome.STARTED, None),
        "text/a.txt": (StartOutcome.SKIPPED, SkipReason.UNDER_OUTPUT_PREFIX),
        "other/b.png": (StartOutcome.SKIPPED, SkipReason.OUTSIDE_INPUT_PREFIX),
        "incoming/notes.pdf": (StartOutcome.SKIPPED, SkipReason.SUFFIX_NOT_ALLOWED),
        "incoming/c.TIFF": (StartOutcome.STARTED, None),
    }
    assert len(workflow.started) == 2


def test_start_executions_folder_marker_is_skipped(on_upload: Any) -> None:
    # GIVEN the notification of a "folder" created in the console / WHEN handled
    results = _start(on_upload.objects_of(load_event("s3_folder_marker")), RecordingWorkflow())
    # THEN it is skipped as a folder marker
    assert [(r.outcome, r.reason) for r in results] == [(StartOutcome.SKIPPED, SkipReason.FOLDER_MARKER)]


def test_start_executions_redelivered_event_is_duplicate(on_upload: Any) -> None:
    # GIVEN a notification already handled once
    workflow = RecordingWorkflow()
    objects = on_upload.objects_of(load_event("s3_put"))
    first = _start(objects, workflow)
    # WHEN it is delivered again
    second = _start(objects, workflow)
    # THEN the same execution name is found and reported as a duplicate
    assert second[0].outcome is StartOutcome.DUPLICATE
    assert second[0].execution_name == first[0].execution_name


def test_start_executions_payload_is_plain_object_identity(on_upload: Any) -> None:
    # GIVEN an upload / WHEN started
    workflow = RecordingWorkflow()
    _start(on_upload.objects_of(load_event("s3_put")), workflow)
    # THEN the execution input names the object and the notification time only (no bytes)
    [payload] = workflow.started.values()
    assert payload == {
        "object": {
            "bucket": "ocr-drop-123456789012-us-east-1",
            "key": "incoming/2026/scan.jpg",
            "version_id": None,
            "etag": "0123456789abcdef0123456789abcdef",
            "size": 48213,
        },
        "notified_at": "2026-01-15T10:00:00.000+00:00",
    }
