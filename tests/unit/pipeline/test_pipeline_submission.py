"""The per-stage submission record: one accepted vendor task per stage per execution."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ocr_pipeline.domain.models import Stage
from ocr_pipeline.domain.submission import Ledger, SubmissionRecord, SubmissionState, submit_once
from ocr_pipeline.errors import (
    OcrApiReplyLost,
    OcrApiThrottled,
    OcrApiUnavailable,
    SubmissionInDoubt,
    SubmissionInProgress,
)
from tests.unit.pipeline.pipeline_support import BUCKET, FakeStore

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
KEY = "submissions/exec-1/binarize.json"


def _ledger(store: FakeStore) -> Ledger:
    return Ledger(store, BUCKET, "submissions/", "exec-1", in_doubt_after_seconds=30.0)


class Poster:
    """A POST that raises the scripted errors in turn, then returns task ids."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"task-{self.calls}"


def _at(seconds: float) -> Callable[[], datetime]:
    return lambda: T0 + timedelta(seconds=seconds)


def test_submit_once_first_call_posts_and_records_accepted_task() -> None:
    # GIVEN no record / WHEN a stage submits
    store, post = FakeStore(), Poster()
    submission = submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    # THEN it POSTed once and the record holds the task id
    record = SubmissionRecord.model_validate_json(store.objects[(BUCKET, KEY)])
    assert (post.calls, submission.task_id, submission.posted) == (1, "task-1", True)
    assert (record.state, record.task_id, record.operation) == ("accepted", "task-1", "BinarizeImage")


class CountingStore(FakeStore):
    """A :class:`FakeStore` that counts its requests."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def read_optional(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        self.requests.append("GET")
        return super().read_optional(bucket, key, max_bytes=max_bytes)

    def create(self, bucket: str, key: str, body: bytes, *, content_type: str) -> bool:
        self.requests.append("PUT If-None-Match")
        if (bucket, key) in self.objects:
            return False
        self.objects[(bucket, key)] = body
        return True

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        self.requests.append("PUT")
        super().write(bucket, key, body, content_type=content_type)


def test_submit_once_first_call_reads_nothing_and_a_retry_reads_the_record_in_its_way() -> None:
    # GIVEN no record / WHEN a stage submits, then its invocation is retried
    store, post = CountingStore(), Poster()
    submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    first = list(store.requests)
    store.requests.clear()
    again = submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(5))
    # THEN the first call claimed and recorded without a read; the retry's claim failed and it read the record
    assert first == ["PUT If-None-Match", "PUT"]
    assert store.requests == ["PUT If-None-Match", "GET"]
    assert (post.calls, again.task_id, again.resumed) == (1, "task-1", True)


def test_submit_once_retried_invocation_reuses_task_without_posting() -> None:
    # GIVEN a stage that already submitted / WHEN the invocation is retried (e.g. after a crash)
    store, post = FakeStore(), Poster()
    submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    again = submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(5))
    # THEN the same task id, no second POST
    assert (again.task_id, again.resumed, again.posted, post.calls) == ("task-1", True, False, 1)


def test_submit_once_other_stage_of_same_execution_posts_its_own_task() -> None:
    store, post = FakeStore(), Poster()
    submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    second = submit_once(_ledger(store), Stage.RECOGNIZE, post, clock=_at(1))
    assert (second.task_id, post.calls) == ("task-2", 2)


@pytest.mark.parametrize("error", [OcrApiThrottled("429"), OcrApiUnavailable("503"), ValueError("bad")])
def test_submit_once_post_not_accepted_frees_claim_for_the_retry(error: Exception) -> None:
    # GIVEN a POST that was refused / WHEN submitted
    store, post = FakeStore(), Poster(error)
    with pytest.raises(type(error)):
        submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    # THEN no record remains, and the retry POSTs and succeeds
    assert (BUCKET, KEY) not in store.objects
    assert submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(3)).task_id == "task-2"


def test_submit_once_reply_lost_marks_in_doubt_and_never_reposts() -> None:
    # GIVEN a POST whose answer timed out
    store, post = FakeStore(), Poster(OcrApiReplyLost("read timeout"))
    # WHEN submitted, then retried
    with pytest.raises(SubmissionInDoubt, match="not re-posted"):
        submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(0))
    with pytest.raises(SubmissionInDoubt):
        submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(60))
    # THEN only the one POST was sent, and the record says why
    record = SubmissionRecord.model_validate_json(store.objects[(BUCKET, KEY)])
    assert (
        post.calls == 1
        and record.state is SubmissionState.IN_DOUBT
        and "read timeout" in (record.message or "")
    )


def test_submit_once_claim_held_by_live_invocation_is_in_progress() -> None:
    # GIVEN another invocation claimed the stage 2 s ago and is still POSTing
    store, post = FakeStore(), Poster()
    claim = SubmissionRecord(
        execution="exec-1",
        stage=Stage.BINARIZE,
        operation="BinarizeImage",
        state="posting",
        claimed_at=T0.isoformat(),
    )
    store.objects[(BUCKET, KEY)] = claim.model_dump_json().encode()
    # WHEN this one tries / THEN it is told to retry later, without POSTing
    with pytest.raises(SubmissionInProgress):
        submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(2))
    # AND a claim older than the POST timeout means the POST's fate is unknown: in doubt, not re-posted
    with pytest.raises(SubmissionInDoubt):
        submit_once(_ledger(store), Stage.BINARIZE, post, clock=_at(31))
    assert post.calls == 0


def test_submit_once_record_write_failing_after_acceptance_still_returns_task_id() -> None:
    # GIVEN S3 refusing the accepted record's write (the claim itself was created earlier)
    store, post = FakeStore(), Poster()

    def failing_post() -> str:
        store.fail_writes_under = "submissions/"
        return post()

    # WHEN submitted / THEN the task id is returned, not lost to an exception
    submission = submit_once(_ledger(store), Stage.BINARIZE, failing_post, clock=_at(0))
    assert (submission.task_id, submission.record_saved) == ("task-1", False)
