"""DynamoDB transactions under the local stack's hooks: all or nothing, without copying whole tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_stack import lambda_hook
from local_stack.runner import Runner

TABLE = "slots"


@pytest.fixture
def table() -> Iterator[Any]:
    runner = Runner([])
    with mock_aws():
        lambda_hook.install(runner)
        try:
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName=TABLE,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            for index in range(50):
                client.put_item(TableName=TABLE, Item={"pk": {"S": "waiting"}, "sk": {"S": f"{index:03d}"}})
            client.put_item(TableName=TABLE, Item={"pk": {"S": "count"}, "sk": {"S": "-"}, "n": {"N": "1"}})
            yield client
        finally:
            lambda_hook.uninstall()
            runner.close()


def _items(client: Any) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=TABLE)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def _grant(waiter: str, *, below: int) -> list[dict[str, Any]]:
    """Delete a waiter, write its holder and bump the count if it is below `below`."""
    return [
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "waiting"}, "sk": {"S": waiter}}}},
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "holder"}, "sk": {"S": waiter}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "count"}, "sk": {"S": "-"}},
                "UpdateExpression": "SET n = n + :one",
                "ConditionExpression": "n < :limit",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(below)}},
            }
        },
    ]


def test_transaction_whose_condition_fails_leaves_every_item_as_it_was(table: Any) -> None:
    # GIVEN a table with 50 waiters and a count of 1
    before = _items(table)

    # WHEN a transaction deletes a waiter and writes a holder, but its last condition fails
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(TransactItems=_grant("007", below=1))

    # THEN it is cancelled and nothing it wrote before the failing condition remains
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(table) == before


def test_transaction_whose_conditions_hold_applies_every_write(table: Any) -> None:
    # GIVEN the same table
    # WHEN a transaction's conditions hold
    table.transact_write_items(TransactItems=_grant("007", below=5))

    # THEN the waiter is gone, the holder exists and the count went up, the other items untouched
    items = _items(table)
    keys = {(item["pk"]["S"], item["sk"]["S"]) for item in items}
    assert ("waiting", "007") not in keys and ("holder", "007") in keys
    assert len([key for key in keys if key[0] == "waiting"]) == 49
    assert next(item for item in items if item["pk"]["S"] == "count")["n"] == {"N": "2"}
