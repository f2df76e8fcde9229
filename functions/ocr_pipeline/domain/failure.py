"""Failure records: every execution that does not succeed leaves ``failed/<input key>.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from ocr_pipeline.domain.config import json_bytes, keys_of
from ocr_pipeline.domain.models import Attempts, FailureRecord, FailureStatus, Job, ObjectVersion, Stage
from ocr_pipeline.domain.ports import Clock, ObjectStore
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.domain.submission import Ledger
from ocr_pipeline.settings import LayoutSettings

MAX_MESSAGE_CHARS = 4000
UNKNOWN_STAGE = "unknown"


class CaughtError(BaseModel):
    """What a ``Catch`` with ``ResultPath: $.error`` put into the state."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    Error: str | None = None
    Cause: str | None = None


class FailedState(BaseModel):
    """The execution's state when it failed (other fields of the state are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    object: ObjectRef
    job: Job | None = None
    error: CaughtError = CaughtError()
    failed_stage: str | None = Field(default=None, description="set by the failing stage's Catch")

    @field_validator("job", mode="wrap")
    @classmethod
    def _job_or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Job | None:
        """A job that does not validate is left out: the failure must be recorded all the same."""
        try:
            job: Job | None = handler(value)
        except ValidationError:
            return None
        return job


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    """Where the record went and what it says failed."""

    failed_key: str
    error_type: str
    stage: str


def _cause_message(cause: str | None) -> str:
    """The human part of a Step Functions ``Cause`` (a Lambda error's JSON, or free text)."""
    if cause is None:
        return ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:MAX_MESSAGE_CHARS]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])[:MAX_MESSAGE_CHARS]
    return cause[:MAX_MESSAGE_CHARS]


def last_submitted_stage(ledger: Ledger) -> Stage | None:
    """The latest stage that has a submission record (for failures that carry no job)."""
    found = None
    for stage in Stage:
        if ledger.store.read_optional(ledger.bucket, ledger.key(stage), max_bytes=64 * 1024) is not None:
            found = stage
    return found


def _stage_of(state: FailedState, ledger: Ledger) -> str:
    if state.failed_stage:
        return state.failed_stage
    if state.job is not None and state.job.stage is not None:
        return state.job.stage.value
    submitted = last_submitted_stage(ledger)
    return submitted.value if submitted else UNKNOWN_STAGE


def record_failure(
    state: FailedState,
    *,
    execution: str,
    status: FailureStatus,
    store: ObjectStore,
    layout: LayoutSettings,
    clock: Clock,
) -> FailureOutcome:
    """Write the failure record of one execution; ``status`` is ``FAILED``, ``TIMED_OUT`` or ``ABORTED``.

    The stage is the one the failing state named; without it (a timed-out or aborted execution) the
    latest stage with a submission record.
    """
    obj = state.object
    keys = keys_of(obj, layout)
    ledger = Ledger(store, obj.bucket, layout.SUBMISSION_PREFIX, execution, 0.0)
    stage = _stage_of(state, ledger)
    job = state.job
    task = job.tasks.get(Stage(stage)) if job is not None and stage in {s.value for s in Stage} else None
    error_type = state.error.Error or f"States.{status}"
    record = FailureRecord(
        status=status,
        bucket=obj.bucket,
        input=ObjectVersion(key=obj.key, version_id=obj.version_id, etag=obj.etag),
        execution=execution,
        stage=stage,
        error_type=error_type,
        message=_cause_message(state.error.Cause),
        task_id=task.task_id if task else None,
        attempts=Attempts(
            polls=task.polls if task else 0,
            total_polls=job.total_polls if job else 0,
            calls=job.calls if job else Attempts().calls,
        ),
        tasks=job.tasks if job else {},
        failed_at=clock().isoformat(timespec="milliseconds"),
    )
    store.write(
        obj.bucket, keys.failed, json_bytes(record.model_dump(mode="json")), content_type="application/json"
    )
    return FailureOutcome(failed_key=keys.failed, error_type=error_type, stage=stage)
