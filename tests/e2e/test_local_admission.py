"""Admission control through the local stack: a burst far beyond ApiConcurrency queues instead of
failing, the OCR service never sees more jobs in flight than slots, and no slot is left held, even when
an execution is aborted while holding one or a slot leaks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.runner import RunnerOptions
from local_stack.stack import LocalStack
from tests.e2e.service_counts import read_json, stored_tasks
from tests.unit.pipeline.pipeline_support import load_event

IMAGES = Path(__file__).resolve().parents[2] / "events" / "images"
DEADLINE = 240.0
SLOTS = 2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    overrides = {
        "ApiConcurrency": str(SLOTS),
        "FirstWaitSeconds": "0.1",
        "MaxWaitSeconds": "2",
        "MaxPolls": "60",
    }
    options = RunnerOptions(account_concurrency=16, seed=5)
    with LocalStack.start(
        param_overrides=overrides, service_options={"workers": 2}, lambda_options=options
    ) as running:
        yield running


def _table(stack: LocalStack) -> str:
    [table] = [t.name for t in stack.spec.tables if t.logical_id == "AdmissionTable"]
    return table


def _admission_function(stack: LocalStack) -> str:
    [name] = [f.name for f in stack.spec.functions if f.logical_id == "AdmissionFunction"]
    return name


def _slots(stack: LocalStack) -> tuple[dict[str, Any], list[str]]:
    """(holders, waiting execution names) of the admission table."""
    dynamodb = stack.clients["dynamodb"]
    item = dynamodb.get_item(
        TableName=_table(stack), Key={"pk": {"S": "slots"}, "sk": {"S": "slots"}}, ConsistentRead=True
    ).get("Item", {})
    waiting = dynamodb.query(
        TableName=_table(stack),
        KeyConditionExpression="pk = :w",
        ExpressionAttributeValues={":w": {"S": "waiting"}},
        ConsistentRead=True,
    )["Items"]
    return item.get("holders", {}).get("M", {}), [w["execution"]["S"] for w in waiting]


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _sources() -> list[Path]:
    return sorted(IMAGES.rglob("*.jpg")) + sorted(IMAGES.rglob("*.png"))


def test_burst_beyond_the_slots_queues_and_every_image_succeeds_within_the_bound(stack: LocalStack) -> None:
    # GIVEN two slots and an OCR service answering 10 % of requests 429
    images = 14
    stack.ocr.set_faults(rate_429=0.10, seed=3)
    before = stored_tasks(stack)
    sources = _sources()

    # WHEN seven times as many images as slots are dropped at once
    keys = [
        stack.upload_bytes(sources[i % len(sources)].read_bytes(), f"incoming/admission/burst/{i}.png")
        for i in range(images)
    ]
    records = stack.wait_all(DEADLINE, keys)
    stack.ocr.set_faults(rate_429=0.0)

    # THEN every image succeeded, one task per stage, never more than two jobs in flight at the service,
    # the API functions were never throttled, and every slot came back
    assert [r.status for r in records] == ["SUCCEEDED"] * images, [(r.key, r.error, r.cause) for r in records]
    assert stored_tasks(stack) - before == 2 * images
    assert stack.ocr.stats()["in_flight"]["peak"] <= SLOTS
    api_throttles = {
        name: t for name, t in stack.throttles.items() if "Preprocess" in name or "Recognize" in name
    }
    assert all(sum(t.values()) == 0 for t in api_throttles.values()), api_throttles
    # the straight path is 9 transitions; a busy machine may add whole poll rounds (Wait, Check, Choice)
    assert all(r.transitions >= 9 and (r.transitions - 9) % 3 == 0 for r in records), [
        r.transitions for r in records
    ]
    assert _slots(stack) == ({}, [])


def test_execution_aborted_while_holding_a_slot_gives_it_back(stack: LocalStack) -> None:
    # GIVEN slow OCR tasks and three images, so two hold the slots and one waits
    stack.ocr.set_faults(delay_seconds=3.0)
    sources = _sources()
    keys = [
        stack.upload_bytes(sources[i].read_bytes(), f"incoming/admission/abort/{i}.png") for i in range(3)
    ]
    assert _wait_for(lambda: len(_slots(stack)[0]) == SLOTS and len(_slots(stack)[1]) == 1, 60)
    holder = next(iter(_slots(stack)[0].values()))["M"]["arn"]["S"]

    # WHEN one holder is stopped by hand
    stack.sfn.stop_execution(executionArn=holder, error="Operator", cause="stopped while holding a slot")
    stack.ocr.set_faults(delay_seconds=0.0)
    records = stack.wait_all(DEADLINE, keys)

    # THEN its failure record says ABORTED, the waiting image got the slot and succeeded, none is held
    statuses = sorted(r.status for r in records)
    assert statuses == ["ABORTED", "SUCCEEDED", "SUCCEEDED"], [(r.key, r.status, r.error) for r in records]
    [aborted] = [r for r in records if r.status == "ABORTED"]
    record = read_json(stack, f"failed/{aborted.key.removeprefix('incoming/')}.json")
    assert record["status"] == "ABORTED"
    assert _wait_for(lambda: _slots(stack) == ({}, []), 30), _slots(stack)


def test_leaked_slots_are_released_by_the_reconciler_and_the_waiting_image_proceeds(
    stack: LocalStack,
) -> None:
    # GIVEN both slots held by executions that no longer exist (a leak the release paths missed)
    dynamodb = stack.clients["dynamodb"]
    ghost = {
        f"ghost-{i}": {
            "M": {
                "arn": {"S": f"{stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:ghost-{i}"},
                "token": {"S": f"expired-token-{i}"},
                "acquired": {"S": "2026-01-01T00:00:00+00:00"},
            }
        }
        for i in range(SLOTS)
    }
    dynamodb.put_item(
        TableName=_table(stack), Item={"pk": {"S": "slots"}, "sk": {"S": "slots"}, "holders": {"M": ghost}}
    )

    # WHEN an image arrives, it waits
    key = stack.upload_bytes(_sources()[0].read_bytes(), "incoming/admission/leak/0.png")
    assert _wait_for(lambda: len(_slots(stack)[1]) == 1, 30)
    assert stack.records([key])[0].status == "RUNNING"

    # AND the scheduled reconciler runs
    payload, errored = stack.runner.invoke(_admission_function(stack), load_event("admission_reconcile"))
    [record] = stack.wait_all(DEADLINE, [key])

    # THEN the ghosts' slots were released, the image succeeded, and nothing is held
    assert not errored, payload
    assert '"ghost-0"' in payload and '"ghost-1"' in payload
    assert record.status == "SUCCEEDED", (record.error, record.cause)
    assert _slots(stack) == ({}, [])
