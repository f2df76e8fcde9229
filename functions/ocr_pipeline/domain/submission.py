"""Exactly one accepted vendor task per stage per execution, whatever is retried.

Before a stage POSTs, it claims ``<SubmissionPrefix><execution>/<stage>.json`` with a conditional
create (``If-None-Match: *``), and reads the record only when the create finds one there. Only the
invocation that created the claim POSTs; once the API accepted the task, the claim is replaced by the
accepted record with the task id. A retried, timed-out or duplicated invocation of the same stage finds
the record and resumes with its task id instead of POSTing again:

* ``accepted`` → the task id is reused (no request to the API);
* ``posting`` younger than the POST's own timeout → another invocation is POSTing right now:
  :class:`SubmissionInProgress` (retried by the workflow with backoff, then finds ``accepted``);
* ``posting`` older than that, or ``in_doubt`` → a POST went out and its answer was lost, so the API may
  hold a task nobody knows the id of: :class:`SubmissionInDoubt` fails the stage, it is never re-posted.

A POST that was definitely not accepted (429, 5xx answer, connection refused, bad request) removes the
claim before its error is raised, so the workflow's retry can submit again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import ValidationError

from ocr_pipeline.domain.models import Model, Stage
from ocr_pipeline.domain.ports import ObjectStore
from ocr_pipeline.errors import OcrApiReplyLost, SubmissionInDoubt, SubmissionInProgress

RECORD_MAX_BYTES = 64 * 1024
_JSON = "application/json"


class SubmissionState(StrEnum):
    """Life of one stage's submission."""

    POSTING = "posting"
    ACCEPTED = "accepted"
    IN_DOUBT = "in_doubt"


class SubmissionRecord(Model):
    """``<SubmissionPrefix><execution>/<stage>.json``."""

    execution: str
    stage: Stage
    operation: str
    state: SubmissionState
    claimed_at: str
    task_id: str | None = None
    accepted_at: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """The stage's one task: its id, and whether it came from an earlier invocation's record."""

    task_id: str
    submitted_at: str
    resumed: bool
    posted: bool
    record_saved: bool = True


@dataclass(frozen=True, slots=True)
class Ledger:
    """Where the submission records of one execution live."""

    store: ObjectStore
    bucket: str
    prefix: str
    execution: str
    in_doubt_after_seconds: float

    def key(self, stage: Stage) -> str:
        """The record's key."""
        return f"{self.prefix}{self.execution}/{stage.value}.json"

    def load(self, stage: Stage) -> SubmissionRecord | None:
        """The stage's record, if any (an unreadable record counts as a lost answer)."""
        raw = self.store.read_optional(self.bucket, self.key(stage), max_bytes=RECORD_MAX_BYTES)
        if raw is None:
            return None
        try:
            return SubmissionRecord.model_validate_json(raw)
        except ValidationError as exc:
            raise SubmissionInDoubt(f"{stage.value}: unreadable submission record {self.key(stage)}") from exc

    def save(self, record: SubmissionRecord) -> None:
        """Replace the record (only the invocation that created the claim does this)."""
        self.store.write(self.bucket, self.key(record.stage), _bytes(record), content_type=_JSON)


def _bytes(record: SubmissionRecord) -> bytes:
    return record.model_dump_json(indent=2).encode("utf-8")


def _seconds_since(start: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(start)).total_seconds()


def _resume(ledger: Ledger, record: SubmissionRecord, now: datetime) -> Submission:
    stage = record.stage
    if record.state is SubmissionState.ACCEPTED and record.task_id:
        return Submission(
            task_id=record.task_id,
            submitted_at=record.accepted_at or record.claimed_at,
            resumed=True,
            posted=False,
        )
    if record.state is SubmissionState.POSTING:
        age = _seconds_since(record.claimed_at, now)
        if age < ledger.in_doubt_after_seconds:
            raise SubmissionInProgress(
                f"{stage.value}: another invocation is submitting since {age:.1f} s ({ledger.key(stage)})"
            )
    raise SubmissionInDoubt(
        f"{stage.value}: a {record.operation} POST of this execution may have been accepted but its task id "
        f"is unknown ({record.message or 'the submitting invocation stopped before recording it'}); "
        "not re-posted, to avoid a second billed task"
    )


def submit_once(
    ledger: Ledger, stage: Stage, post: Callable[[], str], *, clock: Callable[[], datetime]
) -> Submission:
    """Return the stage's task, POSTing (``post``) only if no invocation of this execution has before."""
    now = clock()
    claim = SubmissionRecord(
        execution=ledger.execution,
        stage=stage,
        operation=stage.operation,
        state=SubmissionState.POSTING,
        claimed_at=now.isoformat(timespec="milliseconds"),
    )
    # The claim is created first: the stage's first invocation (nearly every one) reads nothing, and a
    # retried or duplicated one finds the record in its way and resumes from it.
    if not ledger.store.create(ledger.bucket, ledger.key(stage), _bytes(claim), content_type=_JSON):
        existing = ledger.load(stage)
        if existing is None:
            raise SubmissionInProgress(f"{stage.value}: submission record is being written concurrently")
        return _resume(ledger, existing, clock())
    try:
        task_id = post()
    except OcrApiReplyLost as exc:
        doubt = claim.model_copy(update={"state": SubmissionState.IN_DOUBT, "message": str(exc)[:500]})
        ledger.save(doubt)
        raise SubmissionInDoubt(
            f"{stage.value}: {exc}; the API may hold a task for this image whose id is unknown, "
            "so it is not re-posted"
        ) from exc
    except Exception:
        # Not accepted (an answer said so, or the request never left): free the claim for the retry.
        ledger.store.delete(ledger.bucket, ledger.key(stage))
        raise
    accepted_at = clock().isoformat(timespec="milliseconds")
    accepted = claim.model_copy(
        update={"state": SubmissionState.ACCEPTED, "task_id": task_id, "accepted_at": accepted_at}
    )
    try:
        ledger.save(accepted)
    except Exception:  # the task id must not be lost: it travels on in the job instead
        return Submission(task_id, accepted_at, resumed=False, posted=True, record_saved=False)
    return Submission(task_id, accepted_at, resumed=False, posted=True)
