"""Typed state of the workflow: the job that travels between states, and the records written to S3.

The job is what every Task state returns into ``$.job``; its field names and enum values are the
contract with ``infra/ocr_pipeline.asl.json`` (``status`` and ``next`` are what the Choice states read).
The result and failure records are the pipeline's contract with its users; their JSON Schemas are
generated from these models (``ocr_pipeline.schemas``) and published in ``functions/README.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NonNegative = Annotated[int, Field(ge=0)]


class Stage(StrEnum):
    """One OCR API task of the workflow, in the order they can run."""

    DESKEW = "deskew"
    UPSCALE = "upscale"
    BINARIZE = "binarize"
    RECOGNIZE = "recognize"

    @property
    def operation(self) -> str:
        """The Aspose.OCR Cloud v5 operation that runs this stage."""
        return _OPERATIONS[self]

    @property
    def preprocessing(self) -> bool:
        """Whether the stage returns an image (every stage but recognition)."""
        return self is not Stage.RECOGNIZE


_OPERATIONS = {
    Stage.DESKEW: "DeskewImage",
    Stage.UPSCALE: "UpscaleImage",
    Stage.BINARIZE: "BinarizeImage",
    Stage.RECOGNIZE: "RecognizeImage",
}


class StageStatus(StrEnum):
    """Where the current stage's task is: the ``<stage> done?`` Choice states read it."""

    PENDING = "pending"
    COMPLETED = "completed"


DONE: Literal["done"] = "done"
"""``Job.next`` once recognition has completed."""

NextStep = Stage | Literal["done"]


class Model(BaseModel):
    """Frozen, strict about unknown fields: a renamed field fails at the edge, not three states later."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ObjectVersion(Model):
    """The uploaded object a record is about."""

    key: str
    version_id: str | None = None
    etag: str | None = None


class Calls(Model):
    """OCR API requests made for one stage (the OAuth2 token request is not counted)."""

    posts: NonNegative = 0
    gets: NonNegative = 0

    @property
    def total(self) -> int:
        """All requests."""
        return self.posts + self.gets

    def plus(self, *, posts: int = 0, gets: int = 0) -> Calls:
        """These calls and some more."""
        return Calls(posts=self.posts + posts, gets=self.gets + gets)


class StageTask(Model):
    """The one vendor task of one stage."""

    operation: str
    task_id: str
    submitted_at: str
    completed_at: str | None = None
    source_key: str = Field(description="the image this stage was given")
    output_key: str | None = Field(default=None, description="the image a preprocessing stage produced")
    output_bytes: NonNegative | None = None
    polls: NonNegative = Field(default=0, description="result requests made by the Wait loop's check state")
    in_lambda_polls: NonNegative = Field(default=0, description="result requests made right after submitting")
    calls: Calls = Calls()
    resumed: bool = Field(
        default=False, description="the task id came from the submission record, not from a new POST"
    )


class ImageInfo(Model):
    """The uploaded image as checked before any API call."""

    format: str
    width: int
    height: int
    bytes: NonNegative
    megapixels: float


class AutoDecision(Model):
    """Why ``auto`` chose its steps."""

    binarize: bool
    reason: str
    stats: dict[str, float]


class ModeInfo(Model):
    """The requested binarization mode, the one used, and ``auto``'s reasons."""

    requested: str
    effective: str
    decision: AutoDecision | None = None


class Job(Model):
    """The state of one image's OCR between workflow states (``$.job``)."""

    steps: tuple[Stage, ...] = Field(min_length=1, description="stages in order; the last is recognize")
    stage: Stage | None = Field(description="the stage the job is in; None before the first submission")
    status: StageStatus = Field(description="state of the current stage's task")
    next: NextStep = Field(description="the state the workflow goes to once the current stage completed")
    wait_seconds: NonNegative = Field(description="the Wait state's next wait")
    source_key: str = Field(description="the image the next stage submits")
    source_version_id: str | None = None
    total_polls: NonNegative = 0
    mode: ModeInfo
    image: ImageInfo
    tasks: dict[Stage, StageTask] = {}

    def task(self, stage: Stage) -> StageTask:
        """The task of ``stage`` (it must have been submitted)."""
        return self.tasks[stage]

    def following(self, stage: Stage) -> NextStep:
        """The step after ``stage``."""
        index = self.steps.index(stage)
        return self.steps[index + 1] if index + 1 < len(self.steps) else DONE

    @property
    def calls(self) -> Calls:
        """Requests made for all stages."""
        return Calls(
            posts=sum(t.calls.posts for t in self.tasks.values()),
            gets=sum(t.calls.gets for t in self.tasks.values()),
        )


class StageReport(Model):
    """One stage in the result record."""

    operation: str
    task_id: str
    submitted_at: str
    completed_at: str
    job_seconds: float
    polls: NonNegative
    in_lambda_polls: NonNegative
    calls: Calls
    resumed: bool
    output_key: str | None = None
    output_bytes: NonNegative | None = None


class Outputs(Model):
    """Where the outputs were written."""

    text: str
    result: str
    binarized: str | None = None
    images: dict[Stage, str] = Field(default={}, description="the image each preprocessing stage produced")


class Timings(Model):
    """When the OCR work started and ended."""

    first_submitted_at: str
    finished_at: str
    ocr_seconds: float


class Engine(Model):
    """Which API did the work."""

    api: str
    base_url: str
    language: str


class Sizes(Model):
    """Input and output sizes."""

    format: str
    width: int
    height: int
    bytes: int
    megapixels: float
    binarized_bytes: int | None = None
    text_bytes: int
    text_chars: int


class ResultRecord(Model):
    """``results/<input key>.json``: written once the text is in S3."""

    status: Literal["SUCCEEDED"] = "SUCCEEDED"
    bucket: str
    input: ObjectVersion
    execution: str
    outputs: Outputs
    mode: ModeInfo
    steps: tuple[Stage, ...]
    stages: dict[Stage, StageReport]
    calls: Calls = Field(description="OCR API requests for this image, all stages")
    polls: NonNegative = Field(description="result requests made by the Wait loops")
    in_lambda_polls: NonNegative = Field(description="result requests made right after submitting")
    timings: Timings
    engine: Engine
    settings: dict[str, str | int | float | bool]
    sizes: Sizes


FailureStatus = Literal["FAILED", "TIMED_OUT", "ABORTED"]


class Attempts(Model):
    """How far the failed job got."""

    polls: NonNegative = 0
    total_polls: NonNegative = 0
    calls: Calls = Calls()


class FailureRecord(Model):
    """``failed/<input key>.json``: written for every execution that does not succeed."""

    status: FailureStatus
    bucket: str
    input: ObjectVersion
    execution: str
    stage: str = Field(description="the state that failed: check_image, a stage name, or unknown")
    error_type: str
    message: str
    task_id: str | None = None
    attempts: Attempts
    tasks: dict[Stage, StageTask] = {}
    failed_at: str
