"""The admission slot table in DynamoDB, and Step Functions as the token answerer and status source.

Items (partition key ``pk``, sort key ``sk``):

- ``pk=slots, sk=slots``: ``holders``, a map execution name → ``{arn, token, acquired}``. Its size is the
  number of slots taken; it never exceeds ``ApiConcurrency`` entries (at most 100, of 1-3 KB each with
  the task token), so the item stays below DynamoDB's 400 KB.
- ``pk=waiting, sk=<arrival>#<execution>``: one item per waiting execution, with its ARN and task token;
  a query on ``pk=waiting`` returns them oldest first.

A grant is one transaction: add the holder only while ``size(holders) < limit`` and it holds none,
and delete the waiter only while it exists, so two dispatchers never hand out the same slot
or the same waiter twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ocr_pipeline.domain.admission import Grant, Holder, Waiter
from ocr_pipeline.errors import AdmissionUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

SLOTS_KEY = {"pk": {"S": "slots"}, "sk": {"S": "slots"}}
WAITING = "waiting"
_GONE_TOKEN = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


@contextmanager
def _transient(what: str) -> Iterator[None]:
    """DynamoDB and Step Functions errors nobody handles become :class:`AdmissionUnavailable` (retried)."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise AdmissionUnavailable(f"{what} failed: {code}") from exc
    except BotoCoreError as exc:
        raise AdmissionUnavailable(f"{what} failed: {exc}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


T = TypeVar("T")
_CONDITION_FAILED = frozenset({"ConditionalCheckFailedException"})


def _call(what: str, call: Callable[[], T], refused: frozenset[str]) -> T | None:
    """``call()``; ``None`` when it fails with one of the ``refused`` codes (an expected answer), other
    errors become :class:`AdmissionUnavailable`."""
    try:
        with _transient(what):
            return call()
    except AdmissionUnavailable as exc:
        if isinstance(exc.__cause__, ClientError) and _code(exc.__cause__) in refused:
            return None
        raise


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(
        arrival=item["sk"]["S"],
        execution=item["execution"]["S"],
        execution_arn=item["execution_arn"]["S"],
        token=item["token"]["S"],
    )


class DynamoSlotTable:
    """:class:`~ocr_pipeline.domain.admission.SlotTable` on one DynamoDB table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def enqueue(self, waiter: Waiter) -> None:
        """Put the waiter's item."""
        with _transient("enqueue"):
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": WAITING},
                    "sk": {"S": waiter.arrival},
                    "execution": {"S": waiter.execution},
                    "execution_arn": {"S": waiter.execution_arn},
                    "token": {"S": waiter.token},
                },
            )

    def oldest_waiters(self, count: int) -> list[Waiter]:
        """The first ``count`` waiter items of the partition (sort key order = arrival order)."""
        with _transient("read waiters"):
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :w",
                ExpressionAttributeValues={":w": {"S": WAITING}},
                ConsistentRead=True,
                Limit=max(count, 1),
            )
        return [_waiter(item) for item in page.get("Items", [])]

    def waiting_count(self, *, max_pages: int) -> tuple[int, bool]:
        """Count waiter items, following at most ``max_pages`` pages."""
        total = 0
        start: dict[str, Any] | None = None
        with _transient("count waiters"):
            for _ in range(max_pages):
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "KeyConditionExpression": "pk = :w",
                    "ExpressionAttributeValues": {":w": {"S": WAITING}},
                    "Select": "COUNT",
                }
                if start:
                    kwargs["ExclusiveStartKey"] = start
                page = self._client.query(**kwargs)
                total += int(page.get("Count", 0))
                start = page.get("LastEvaluatedKey")
                if not start:
                    return total, True
        return total, False

    def holders(self) -> dict[str, Holder]:
        """The ``holders`` map of the slots item (empty when the item does not exist yet)."""
        with _transient("read slots"):
            item = self._client.get_item(TableName=self._table, Key=SLOTS_KEY, ConsistentRead=True).get(
                "Item"
            )
        entries = (item or {}).get("holders", {}).get("M", {})
        return {
            name: Holder(
                execution=name,
                execution_arn=value["M"]["arn"]["S"],
                token=value["M"]["token"]["S"],
                acquired=datetime.fromisoformat(value["M"]["acquired"]["S"]),
            )
            for name, value in entries.items()
        }

    def grant(self, waiter: Waiter, *, limit: int, now: datetime) -> Grant:
        """One transaction: holder added under the limit, waiter removed."""
        holder = {
            "M": {
                "arn": {"S": waiter.execution_arn},
                "token": {"S": waiter.token},
                "acquired": {"S": now.isoformat()},
            }
        }
        for _ in range(2):
            try:
                with _transient("grant"):
                    self._transact_grant(waiter, holder, limit)
                return Grant.GRANTED
            except AdmissionUnavailable as exc:
                cause = exc.__cause__
                if not isinstance(cause, ClientError) or _code(cause) != "TransactionCanceledException":
                    raise
                reasons = [str(r.get("Code", "")) for r in cause.response.get("CancellationReasons", [])]
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    return Grant.TAKEN
                if self._ensure_slots_item():
                    continue
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return Grant.FULL
                return Grant.TAKEN
        return Grant.TAKEN

    def _transact_grant(self, waiter: Waiter, holder: dict[str, Any], limit: int) -> None:
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": SLOTS_KEY,
                        "UpdateExpression": "SET holders.#e = :h",
                        "ConditionExpression": "attribute_not_exists(holders.#e) AND size(holders) < :limit",
                        "ExpressionAttributeNames": {"#e": waiter.execution},
                        "ExpressionAttributeValues": {":h": holder, ":limit": {"N": str(limit)}},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": WAITING}, "sk": {"S": waiter.arrival}},
                        "ConditionExpression": "attribute_exists(sk)",
                    }
                },
            ]
        )

    def _ensure_slots_item(self) -> bool:
        """Create the slots item with no holders; ``True`` if it did not exist."""
        created = _call(
            "create slots",
            lambda: self._client.put_item(
                TableName=self._table,
                Item={**SLOTS_KEY, "holders": {"M": {}}},
                ConditionExpression="attribute_not_exists(pk)",
            ),
            _CONDITION_FAILED,
        )
        return created is not None

    def release(self, execution: str) -> bool:
        """Remove the holder, only if it is there."""
        removed = _call(
            "release",
            lambda: self._client.update_item(
                TableName=self._table,
                Key=SLOTS_KEY,
                UpdateExpression="REMOVE holders.#e",
                ConditionExpression="attribute_exists(holders.#e)",
                ExpressionAttributeNames={"#e": execution},
            ),
            _CONDITION_FAILED,
        )
        return removed is not None

    def drop_waiters(self, waiters: Iterable[Waiter]) -> None:
        """Delete waiter items (no error if already gone)."""
        with _transient("drop waiters"):
            for waiter in waiters:
                self._client.delete_item(
                    TableName=self._table, Key={"pk": {"S": WAITING}, "sk": {"S": waiter.arrival}}
                )


class StepFunctionsTokens:
    """Answers task tokens with ``SendTaskSuccess``; reads execution status with ``DescribeExecution``."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def resume(self, token: str) -> bool:
        """``SendTaskSuccess``; ``False`` when the task is gone (timed out, invalid, unknown)."""
        output = json.dumps({"admitted": True})
        sent = _call(
            "resume", lambda: self._client.send_task_success(taskToken=token, output=output), _GONE_TOKEN
        )
        return sent is not None

    def is_running(self, execution_arn: str) -> bool:
        """Whether the execution exists and is RUNNING."""
        described = _call(
            "describe execution",
            lambda: self._client.describe_execution(executionArn=execution_arn),
            frozenset({"ExecutionDoesNotExist"}),
        )
        return described is not None and described["status"] == "RUNNING"
