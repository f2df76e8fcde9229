"""What the local stack creates from `template.yaml`: functions and state machines as typed specs (the
runner and the stack read their fields), the other resources as their resolved CloudFormation properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.event_rules import EventRuleSpec, ScheduleSpec

BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
SECRET = "AWS::SecretsManager::Secret"
TABLE = "AWS::DynamoDB::Table"


@dataclass(frozen=True)
class FunctionSpec:
    """A function (`AWS::Lambda::Function` after the SAM transform) with its intrinsics resolved, its
    event invoke config (retries, event age) and dead-letter target."""

    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 21600
    dead_letter_arn: str | None = None
    on_failure_arn: str | None = None
    """`EventInvokeConfig` `DestinationConfig.OnFailure` (an SQS queue): the invocation record goes there."""


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine with its definition substituted (JSON text)."""

    logical_id: str
    name: str
    arn: str
    definition: str


@dataclass(frozen=True)
class Resource:
    """A bucket, queue, secret or table: its physical name and its properties as moto's CloudFormation
    resolved them."""

    logical_id: str
    type: str
    name: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class StackSpec:
    """Everything the local stack creates, plus the resolved parameters and the ignored resources
    (logical id → type)."""

    parameters: dict[str, Any]
    functions: tuple[FunctionSpec, ...]
    state_machines: tuple[StateMachineSpec, ...]
    resources: tuple[Resource, ...] = ()
    rules: tuple[EventRuleSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    ignored: dict[str, str] = field(default_factory=dict)

    def function(self, logical_id: str) -> FunctionSpec:
        """The function with this logical id (KeyError if absent)."""
        return {f.logical_id: f for f in self.functions}[logical_id]

    def state_machine(self, logical_id: str) -> StateMachineSpec:
        """The state machine with this logical id (KeyError if absent)."""
        return {m.logical_id: m for m in self.state_machines}[logical_id]

    def resource(self, logical_id: str) -> Resource:
        """The bucket, queue, secret or table with this logical id (KeyError if absent)."""
        return {r.logical_id: r for r in self.resources}[logical_id]

    def of_type(self, kind: str) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.type == kind)

    @property
    def buckets(self) -> tuple[Resource, ...]:
        return self.of_type(BUCKET)

    @property
    def queues(self) -> tuple[Resource, ...]:
        return self.of_type(QUEUE)

    @property
    def secrets(self) -> tuple[Resource, ...]:
        return self.of_type(SECRET)

    @property
    def tables(self) -> tuple[Resource, ...]:
        return self.of_type(TABLE)


def notifications(bucket: Resource) -> list[dict[str, Any]]:
    """The bucket's S3 → Lambda notifications, as `put_bucket_notification_configuration` takes them."""
    found = []
    for entry in (bucket.properties.get("NotificationConfiguration") or {}).get("LambdaConfigurations", []):
        rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        config = {"LambdaFunctionArn": entry["Function"], "Events": [entry["Event"]]}
        if rules:
            config["Filter"] = {
                "Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}
            }
        found.append(config)
    return found


def key_prefix(notification: Mapping[str, Any]) -> str:
    """The key prefix a notification (`notifications` item) filters on, or ''."""
    rules = notification.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return next((str(r["Value"]) for r in rules if str(r["Name"]).lower() == "prefix"), "")
