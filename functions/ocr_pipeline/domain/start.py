"""Turning S3 object-created notifications into one workflow execution per object version."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ocr_pipeline.domain.keys import SkipReason, execution_name, skip_reason
from ocr_pipeline.domain.ports import WorkflowStarter


class ObjectRef(BaseModel):
    """One version of one uploaded object: the identity an execution is named after."""

    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1)
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @property
    def version(self) -> str | None:
        """The S3 version id if versioning is on, else the eTag."""
        return self.version_id or self.etag

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON for the state machine input."""
        return self.model_dump(mode="json")


class StartOutcome(StrEnum):
    """What happened to one notified object."""

    STARTED = "started"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class StartResult:
    """Outcome for one object, for logs, metrics and the handler's return value."""

    key: str
    outcome: StartOutcome
    execution_name: str | None = None
    reason: SkipReason | None = None


def start_executions(
    objects: Iterable[ObjectRef],
    *,
    workflow: WorkflowStarter,
    input_prefix: str,
    output_prefixes: Collection[str],
    suffixes: Collection[str],
    clock: Callable[[], datetime],
    run: str | None = None,
) -> list[StartResult]:
    """Start one execution per acceptable object; never call the OCR API.

    ``run`` (reprocessing) is part of the execution name: the same objects in a new run start again,
    in the same run they are duplicates.

    Submission happens in the execution's first state, and a Standard execution name can be used only
    once, so a redelivered notification cannot submit an image twice: it finds the execution already
    there and reports :attr:`StartOutcome.DUPLICATE`. The input carries the notification time: Step
    Functions treats a repeated start with *identical* input of a running execution as a silent success,
    and a differing input makes every repeat an explicit ``ExecutionAlreadyExists``.
    """
    results: list[StartResult] = []
    for obj in objects:
        reason = skip_reason(
            obj.key, input_prefix=input_prefix, output_prefixes=output_prefixes, suffixes=suffixes
        )
        if reason is not None:
            results.append(StartResult(obj.key, StartOutcome.SKIPPED, reason=reason))
            continue
        name = execution_name(obj.bucket, obj.key, obj.version, run=run)
        payload = {"object": obj.to_payload(), "notified_at": clock().isoformat(timespec="milliseconds")}
        started = workflow.start(name, payload)
        outcome = StartOutcome.STARTED if started else StartOutcome.DUPLICATE
        results.append(StartResult(obj.key, outcome, execution_name=name))
    return results
