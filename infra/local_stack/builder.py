"""Typed resource specs from the resolved CloudFormation resources of a translated template.

The SAM transform (`local_stack.template.translate`) has already turned functions, their S3 and
EventBridge events, Globals, dead-letter queues and event invoke configs into plain CloudFormation
(`AWS::Lambda::Function`, `AWS::S3::Bucket` NotificationConfiguration, `AWS::Events::Rule`,
`AWS::Lambda::EventInvokeConfig`...); this module only reads those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.cfn import Resolver, TemplateError
from local_stack.event_rules import EVENT_RULE, rules_from_resources, schedules_from_resources
from local_stack.resources import (
    BucketSpec,
    EventRuleSpec,
    FunctionSpec,
    KeyFilter,
    Notification,
    QueueSpec,
    ScheduleSpec,
    SecretSpec,
    StateMachineSpec,
    TableSpec,
)

BUCKET = "AWS::S3::Bucket"
FUNCTION = "AWS::Lambda::Function"
INVOKE_CONFIG = "AWS::Lambda::EventInvokeConfig"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
SECRET = "AWS::SecretsManager::Secret"
QUEUE = "AWS::SQS::Queue"
TABLE = "AWS::DynamoDB::Table"
SUPPORTED = (BUCKET, FUNCTION, INVOKE_CONFIG, STATE_MACHINE, SECRET, QUEUE, TABLE, EVENT_RULE)
"""Resource types created locally; every other type is listed as not emulated and skipped."""

_SERVICE_OF_TYPE = re.compile(r"^AWS::([A-Za-z0-9]+)::")
_NAME_PROPERTY = {
    BUCKET: ("BucketName", 63),
    FUNCTION: ("FunctionName", 64),
    STATE_MACHINE: ("StateMachineName", 80),
    SECRET: ("Name", 512),
    QUEUE: ("QueueName", 80),
    TABLE: ("TableName", 255),
}


@dataclass(frozen=True)
class Environment:
    """Where the stack pretends to live."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "ocr-local"
    partition: str = "aws"
    queue_endpoint: str = "http://127.0.0.1:5000"


class Identities:
    """Predicted physical names, Refs and attributes of every resource (created locally or not)."""

    def __init__(self, resources: Mapping[str, Any], env: Environment, resolver: Resolver):
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self.names: dict[str, str] = {}
        self.env = self._env = env
        self._resolver = resolver
        for logical_id, body in resources.items():
            self._add(logical_id, str(body.get("Type", "")), body.get("Properties") or {})

    def _arn(self, service: str, resource: str) -> str:
        env = self._env
        return f"arn:{env.partition}:{service}:{env.region}:{env.account_id}:{resource}"

    def _name(self, logical_id: str, kind: str, props: Mapping[str, Any]) -> str:
        key, limit = _NAME_PROPERTY.get(kind, ("Name", 128))
        explicit = props.get(key)
        if explicit is not None:
            try:
                return str(self._resolver.resolve(explicit))
            except TemplateError as exc:
                raise TemplateError(f"{logical_id}.{key} must depend on parameters only: {exc}") from exc
        return f"{self._env.stack_name}-{logical_id}"[:limit]

    def _add(self, logical_id: str, kind: str, props: Mapping[str, Any]) -> None:
        name = self._name(logical_id, kind, props)
        ref: Any = name
        if kind == BUCKET:
            name = ref = name.lower()
            attrs = {
                "Arn": f"arn:{self._env.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
            }
        elif kind == FUNCTION:
            attrs = {"Arn": self._arn("lambda", f"function:{name}")}
        elif kind == STATE_MACHINE:
            ref = self._arn("states", f"stateMachine:{name}")
            attrs = {"Arn": ref, "Name": name}
        elif kind == SECRET:
            ref = self._arn("secretsmanager", f"secret:{name}")
            attrs = {"Id": ref}
        elif kind == QUEUE:
            ref = f"{self._env.queue_endpoint}/{self._env.account_id}/{name}"
            attrs = {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": ref}
        elif kind == TABLE:
            attrs = {"Arn": self._arn("dynamodb", f"table/{name}")}
            attrs["StreamArn"] = f"{attrs['Arn']}/stream/local"
        else:
            match = _SERVICE_OF_TYPE.match(kind)
            service = match.group(1).lower() if match else "unknown"
            attrs = {"Arn": self._arn(service, name), "Name": name, "Id": name}
        self.names[logical_id] = name
        self.refs[logical_id] = ref
        for attribute, value in attrs.items():
            self.attributes[(logical_id, attribute)] = value


class Builder:
    """Builds the typed specs from the active (condition-true) resources.

    `code_uris` and `definition_files` are the local paths the SAM transform replaced by S3 locations.
    """

    def __init__(
        self,
        resolver: Resolver,
        identities: Identities,
        active: dict[str, Any],
        code_uris: Mapping[str, Path],
        definition_files: Mapping[str, Path],
    ):
        self._resolver = resolver
        self._identities = identities
        self._active = active
        self._code_uris = code_uris
        self._definition_files = definition_files

    def _of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, body in self._active.items():
            if body.get("Type") == kind:
                yield logical_id, self._resolver.resolve(body.get("Properties") or {})

    def _attr(self, logical_id: str, attribute: str) -> str:
        return str(self._identities.attributes[(logical_id, attribute)])

    def buckets(self) -> Iterator[BucketSpec]:
        for logical_id, props in self._of_type(BUCKET):
            config = props.get("NotificationConfiguration") or {}
            if config.get("QueueConfigurations") or config.get("TopicConfigurations"):
                raise TemplateError(f"{logical_id}: S3 notifications to queues or topics are not emulated")
            notifications = [
                Notification(str(entry["Function"]), (str(entry["Event"]),), _key_filter(entry))
                for entry in config.get("LambdaConfigurations") or []
            ]
            versioned = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
            yield BucketSpec(logical_id, self._identities.names[logical_id], tuple(notifications), versioned)

    def functions(self) -> Iterator[FunctionSpec]:
        invoke_configs = {str(p.get("FunctionName")): p for _, p in self._of_type(INVOKE_CONFIG)}
        for logical_id, props in self._of_type(FUNCTION):
            name = self._identities.names[logical_id]
            variables = (props.get("Environment") or {}).get("Variables") or {}
            reserved = props.get("ReservedConcurrentExecutions")
            invoke = invoke_configs.get(name) or invoke_configs.get(self._attr(logical_id, "Arn")) or {}
            dead_letter = (props.get("DeadLetterConfig") or {}).get("TargetArn")
            if logical_id not in self._code_uris:
                raise TemplateError(f"{logical_id}: the local stack needs a local CodeUri")
            yield FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=self._attr(logical_id, "Arn"),
                code_uri=self._code_uris[logical_id],
                handler=str(props["Handler"]),
                runtime=str(props.get("Runtime", "python3.11")),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment={key: _env_string(value) for key, value in variables.items()},
                reserved_concurrency=int(reserved) if reserved is not None else None,
                max_retry_attempts=int(invoke.get("MaximumRetryAttempts", 2)),
                max_event_age_seconds=int(invoke.get("MaximumEventAgeInSeconds", 21600)),
                dead_letter_arn=str(dead_letter) if dead_letter else None,
            )

    def state_machines(self) -> Iterator[StateMachineSpec]:
        for logical_id, props in self._of_type(STATE_MACHINE):
            substitutions = {str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
            if logical_id in self._definition_files:
                # Substituted as text, like CloudFormation: placeholders may stand for numbers.
                text = self._definition_files[logical_id].read_text(encoding="utf-8")
                definition = _parse_definition(logical_id, substitute(text, substitutions))
            elif "Definition" in props:
                definition = substitute(props["Definition"], substitutions)
            elif "DefinitionString" in props:
                text = substitute(str(props["DefinitionString"]), substitutions)
                definition = _parse_definition(logical_id, text)
            else:
                raise TemplateError(f"{logical_id}: no local definition (DefinitionUri file or Definition)")
            yield StateMachineSpec(
                logical_id=logical_id,
                name=self._identities.names[logical_id],
                arn=self._attr(logical_id, "Arn"),
                definition=json.dumps(definition),
                type=str(props.get("StateMachineType", "STANDARD")),
            )

    def rules(self) -> Iterator[EventRuleSpec]:
        """Event rules with a pattern and function targets (SAM function events are rules by now)."""
        arns = [self._attr(lid, "Arn") for lid, _ in self._of_type(FUNCTION)]
        yield from rules_from_resources(self._of_type(EVENT_RULE), arns)

    def schedules(self) -> Iterator[ScheduleSpec]:
        """`rate(...)` rules with function targets (SAM `Schedule` events are rules by now)."""
        arns = [self._attr(lid, "Arn") for lid, _ in self._of_type(FUNCTION)]
        env = self._identities.env
        yield from schedules_from_resources(self._of_type(EVENT_RULE), arns, env.region, env.account_id)

    def secrets(self) -> Iterator[SecretSpec]:
        for logical_id, props in self._of_type(SECRET):
            secret = props.get("SecretString")
            if secret is None:
                raise TemplateError(f"{logical_id}: the local stack needs a SecretString")
            yield SecretSpec(
                logical_id=logical_id,
                name=self._identities.names[logical_id],
                arn=str(self._identities.refs[logical_id]),
                secret_string=secret if isinstance(secret, str) else json.dumps(secret),
            )

    def queues(self) -> Iterator[QueueSpec]:
        for logical_id, props in self._of_type(QUEUE):
            attributes = {
                key: json.dumps(value) if isinstance(value, dict) else _env_string(value)
                for key, value in props.items()
                if key in _QUEUE_ATTRIBUTES
            }
            yield QueueSpec(
                logical_id=logical_id,
                name=self._identities.names[logical_id],
                arn=self._attr(logical_id, "Arn"),
                url=str(self._identities.refs[logical_id]),
                attributes=attributes,
            )

    def tables(self) -> Iterator[TableSpec]:
        for logical_id, props in self._of_type(TABLE):
            if "KeySchema" not in props or "AttributeDefinitions" not in props:
                raise TemplateError(f"{logical_id}: a table needs KeySchema and AttributeDefinitions")
            ttl = props.get("TimeToLiveSpecification") or {}
            yield TableSpec(
                logical_id=logical_id,
                name=self._identities.names[logical_id],
                key_schema=tuple(dict(k) for k in props["KeySchema"]),
                attribute_definitions=tuple(dict(a) for a in props["AttributeDefinitions"]),
                ttl_attribute=str(ttl["AttributeName"]) if ttl.get("Enabled") in (True, "true") else None,
            )


_QUEUE_ATTRIBUTES = frozenset(
    {
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "RedrivePolicy",
        "VisibilityTimeout",
        "FifoQueue",
        "ContentBasedDeduplication",
    }
)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def substitute(node: Any, substitutions: Mapping[str, str]) -> Any:
    """Replace `${Name}` in a definition (text, or every string of a parsed one); unknown names stay."""
    if isinstance(node, dict):
        return {key: substitute(value, substitutions) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(item, substitutions) for item in node]
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: substitutions.get(m.group(1), m.group(0)), node)
    return node


def _parse_definition(logical_id: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        left = sorted(set(_PLACEHOLDER.findall(text)))
        hint = f"; placeholders without a DefinitionSubstitutions value: {left}" if left else ""
        raise TemplateError(f"{logical_id}: definition is not valid JSON after substitution{hint}") from exc


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _key_filter(entry: Mapping[str, Any]) -> KeyFilter:
    rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    found = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
    return KeyFilter(prefix=found.get("prefix"), suffix=found.get("suffix"))
