"""The events the handlers receive, validated at the edge (Powertools parser on pydantic models).

Each Task state's ``Parameters`` in ``infra/ocr_pipeline.asl.json`` builds one of these; the field names
are that contract. Fields a later version of the workflow may add to the state are ignored, fields the
handler needs are required.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, RootModel

from ocr_pipeline.domain.failure import CaughtError, FailedState
from ocr_pipeline.domain.models import FailureStatus, Job, Stage
from ocr_pipeline.domain.start import ObjectRef


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class S3Object(_Event):
    """``Records[].s3.object``; the key arrives form-encoded (``+`` for a space)."""

    key: str
    size: int | None = None
    eTag: str | None = None
    versionId: str | None = None


class S3Bucket(_Event):
    name: str


class S3Entity(_Event):
    bucket: S3Bucket
    object: S3Object


class S3Record(_Event):
    eventName: str
    s3: S3Entity


class S3Notification(_Event):
    """An S3 event notification (also the ``s3:TestEvent`` S3 sends once, which has no records)."""

    Records: list[S3Record] = []

    def created_objects(self) -> list[ObjectRef]:
        """The created objects, keys decoded, per record (other event kinds ignored)."""
        return [
            ObjectRef(
                bucket=r.s3.bucket.name,
                key=unquote_plus(r.s3.object.key),
                version_id=r.s3.object.versionId or None,
                etag=r.s3.object.eTag or None,
                size=r.s3.object.size,
            )
            for r in self.Records
            if r.eventName.startswith("ObjectCreated")
        ]


class CheckImageEvent(_Event):
    """Input of ``Check image``."""

    action: Literal["check_image"]
    object: ObjectRef
    execution: str = Field(min_length=1)


class StageEvent(_Event):
    """Input of ``Submit <stage>`` (``action: submit``) and ``Check <stage>`` (``action: poll``)."""

    action: Literal["submit", "poll"]
    stage: Stage
    object: ObjectRef
    job: Job
    execution: str = Field(min_length=1)


class StageFunctionEvent(RootModel[Annotated[CheckImageEvent | StageEvent, Field(discriminator="action")]]):
    """Input of the stage function: ``Check image`` or one of its stages, told apart by ``action``."""


class AcquireEvent(_Event):
    """Input of ``Acquire slot`` (a ``.waitForTaskToken`` task: the token resumes the execution)."""

    action: Literal["acquire"]
    execution: str = Field(min_length=1, max_length=80)
    execution_arn: str = Field(min_length=20, pattern=r"^arn:")
    token: str = Field(min_length=1, max_length=2048)


class ReleaseEvent(_Event):
    """Input of ``Release slot``."""

    action: Literal["release"]
    execution: str = Field(min_length=1, max_length=80)


class ReconcileEvent(_Event):
    """The scheduled reconciler's input (the template's ``Schedule`` event)."""

    action: Literal["reconcile"]


class AdmissionEvent(
    RootModel[Annotated[AcquireEvent | ReleaseEvent | ReconcileEvent, Field(discriminator="action")]]
):
    """Input of the admission function, told apart by ``action``."""


class CatchEvent(_Event):
    """Input of ``Record failure``: the whole state after a ``Catch`` put the error in ``$.error``."""

    state: FailedState
    execution: str = Field(min_length=1)


class StatusChangeDetail(_Event):
    """``detail`` of a "Step Functions Execution Status Change" event."""

    name: str = Field(min_length=1)
    status: FailureStatus
    input: str | None = None
    error: str | None = None
    cause: str | None = None


class StatusChangeEvent(EventBridgeModel):
    """The EventBridge event of an execution that timed out or was aborted (no ``Catch`` ran)."""

    detail: StatusChangeDetail


class FailureInput(_Event):
    """What the failure recorder needs, whichever way it was invoked."""

    state: FailedState
    execution: str
    status: FailureStatus


def parse_failure(event: dict[str, Any]) -> FailureInput:
    """A ``Catch`` payload or a status-change event, told apart by their own shape."""
    if event.get("source") == "aws.states" and "detail" in event:
        change = parse(event=event, model=StatusChangeEvent)
        detail = change.detail
        state = FailedState.model_validate(
            {
                **json.loads(detail.input or "{}"),
                "error": CaughtError(Error=f"States.{detail.status}", Cause=detail.cause or detail.error),
            }
        )
        return FailureInput(state=state, execution=detail.name, status=detail.status)
    caught = parse(event=event, model=CatchEvent)
    return FailureInput(state=caught.state, execution=caught.execution, status="FAILED")
