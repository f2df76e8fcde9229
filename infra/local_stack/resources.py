"""Typed model of the resources the local stack creates from `template.yaml`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from local_stack.event_patterns import EventPattern


@dataclass(frozen=True)
class KeyFilter:
    """An S3 key filter (prefix/suffix rules) in the shape S3's notification API expects."""

    prefix: str | None = None
    suffix: str | None = None

    def to_api(self) -> dict[str, Any]:
        rules = [{"Name": "prefix", "Value": self.prefix}] if self.prefix is not None else []
        rules += [{"Name": "suffix", "Value": self.suffix}] if self.suffix is not None else []
        return {"Key": {"FilterRules": rules}} if rules else {}


@dataclass(frozen=True)
class Notification:
    """One S3 notification to a Lambda function (by ARN); queue and topic targets are not emulated."""

    target_arn: str
    events: tuple[str, ...]
    key_filter: KeyFilter = KeyFilter()

    def to_api(self) -> dict[str, Any]:
        config: dict[str, Any] = {"LambdaFunctionArn": self.target_arn, "Events": list(self.events)}
        api_filter = self.key_filter.to_api()
        if api_filter:
            config["Filter"] = api_filter
        return config


@dataclass(frozen=True)
class BucketSpec:
    """An `AWS::S3::Bucket` with the notifications declared on it or by SAM S3 events."""

    logical_id: str
    name: str
    notifications: tuple[Notification, ...] = ()
    versioned: bool = False

    def notification_configuration(self) -> dict[str, Any]:
        """The `put_bucket_notification_configuration` payload."""
        lambdas = [n.to_api() for n in self.notifications]
        return {"LambdaFunctionConfigurations": lambdas} if lambdas else {}


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


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine with its definition already substituted (JSON text)."""

    logical_id: str
    name: str
    arn: str
    definition: str
    type: str = "STANDARD"


@dataclass(frozen=True)
class SecretSpec:
    """An `AWS::SecretsManager::Secret`; `arn` is the partial ARN (no random suffix)."""

    logical_id: str
    name: str
    arn: str
    secret_string: str


@dataclass(frozen=True)
class QueueSpec:
    """An `AWS::SQS::Queue` with its attributes as strings (the SQS API's form)."""

    logical_id: str
    name: str
    arn: str
    url: str
    attributes: dict[str, str] = field(default_factory=dict)


DEFAULT_EVENT_BUS = "default"


@dataclass(frozen=True)
class TableSpec:
    """An `AWS::DynamoDB::Table` (created on demand billing; throughput settings are not emulated)."""

    logical_id: str
    name: str
    key_schema: tuple[dict[str, Any], ...]
    attribute_definitions: tuple[dict[str, Any], ...]
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class RuleTarget:
    """A Lambda function an event rule invokes with the whole event."""

    function_arn: str


@dataclass(frozen=True)
class EventRuleSpec:
    """An `AWS::Events::Rule` with an event pattern (SAM function events included, once translated),
    keeping only the targets that are functions of the stack."""

    logical_id: str
    pattern: EventPattern
    targets: tuple[RuleTarget, ...]
    event_bus: str = DEFAULT_EVENT_BUS
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSpec:
    """An `AWS::Events::Rule` with a `rate(...)` `ScheduleExpression`; `targets` are (function ARN,
    constant `Input` JSON text or None for the scheduled event)."""

    logical_id: str
    expression: str
    seconds: float
    rule_arn: str
    targets: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class StackSpec:
    """Everything the local stack creates, plus the resolved parameters and the ignored resources."""

    parameters: dict[str, Any]
    buckets: tuple[BucketSpec, ...]
    functions: tuple[FunctionSpec, ...]
    state_machines: tuple[StateMachineSpec, ...]
    secrets: tuple[SecretSpec, ...]
    queues: tuple[QueueSpec, ...]
    ignored: dict[str, str] = field(default_factory=dict)
    rules: tuple[EventRuleSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()

    def function(self, logical_id: str) -> FunctionSpec:
        """The function with this logical id (KeyError if absent)."""
        return _by_id(self.functions, logical_id)

    def bucket(self, logical_id: str) -> BucketSpec:
        """The bucket with this logical id (KeyError if absent)."""
        return _by_id(self.buckets, logical_id)

    def state_machine(self, logical_id: str) -> StateMachineSpec:
        """The state machine with this logical id (KeyError if absent)."""
        return _by_id(self.state_machines, logical_id)


_Spec = TypeVar("_Spec", FunctionSpec, BucketSpec, StateMachineSpec)


def _by_id(items: tuple[_Spec, ...], logical_id: str) -> _Spec:
    for item in items:
        if item.logical_id == logical_id:
            return item
    raise KeyError(logical_id)
