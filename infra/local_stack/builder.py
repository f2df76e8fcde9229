"""Typed resource specs built from resolved template resources (used by `local_stack.template`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.cfn import Resolver, TemplateError
from local_stack.event_rules import EVENT_RULE, rules_from_function_events, rules_from_resources
from local_stack.resources import (
    BucketSpec,
    EventRuleSpec,
    FunctionSpec,
    KeyFilter,
    Notification,
    QueueEventSource,
    QueueSpec,
    SecretSpec,
    StateMachineSpec,
)

BUCKET = "AWS::S3::Bucket"
FUNCTION = "AWS::Serverless::Function"
STATE_MACHINE = "AWS::Serverless::StateMachine"
SECRET = "AWS::SecretsManager::Secret"
QUEUE = "AWS::SQS::Queue"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
SUPPORTED = (BUCKET, FUNCTION, STATE_MACHINE, SECRET, QUEUE, EVENT_SOURCE_MAPPING, EVENT_RULE)

_SERVICE_OF_TYPE = re.compile(r"^AWS::(?:Serverless::)?([A-Za-z0-9]+)::")


@dataclass(frozen=True)
class Environment:
    """Where the stack pretends to live."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "ocr-local"
    partition: str = "aws"
    queue_endpoint: str = "http://127.0.0.1:5000"


class Identities:
    """Predicted physical names, Refs and attributes of every resource (supported or not)."""

    def __init__(self, resources: Mapping[str, Any], env: Environment, resolver: Resolver):
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self.names: dict[str, str] = {}
        self._env = env
        self._resolver = resolver
        for logical_id, body in resources.items():
            self._add(logical_id, str(body.get("Type", "")), body.get("Properties") or {})

    def _arn(self, service: str, resource: str) -> str:
        env = self._env
        return f"arn:{env.partition}:{service}:{env.region}:{env.account_id}:{resource}"

    def _name(self, logical_id: str, props: Mapping[str, Any], key: str, limit: int) -> str:
        explicit = props.get(key)
        if explicit is not None:
            try:
                resolved = self._resolver.resolve(explicit)
            except TemplateError as exc:
                raise TemplateError(f"{logical_id}.{key} must depend on parameters only: {exc}") from exc
            return str(resolved)
        return f"{self._env.stack_name}-{logical_id}"[:limit]

    def _add(self, logical_id: str, kind: str, props: Mapping[str, Any]) -> None:
        attrs: dict[str, Any]
        if kind == BUCKET:
            name = self._name(logical_id, props, "BucketName", 63).lower()
            ref: Any = name
            attrs = {
                "Arn": f"arn:{self._env.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
            }
        elif kind == FUNCTION:
            name = self._name(logical_id, props, "FunctionName", 64)
            ref = name
            attrs = {"Arn": self._arn("lambda", f"function:{name}")}
        elif kind == STATE_MACHINE:
            name = self._name(logical_id, props, "Name", 80)
            ref = self._arn("states", f"stateMachine:{name}")
            attrs = {"Arn": ref, "Name": name}
        elif kind == SECRET:
            name = self._name(logical_id, props, "Name", 512)
            ref = self._arn("secretsmanager", f"secret:{name}")
            attrs = {"Id": ref}
        elif kind == QUEUE:
            name = self._name(logical_id, props, "QueueName", 80)
            ref = f"{self._env.queue_endpoint}/{self._env.account_id}/{name}"
            attrs = {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": ref}
        else:
            name = f"{self._env.stack_name}-{logical_id}"
            match = _SERVICE_OF_TYPE.match(kind)
            service = match.group(1).lower() if match else "unknown"
            ref = name
            attrs = {"Arn": self._arn(service, name), "Name": name, "Id": name}
        self.names[logical_id] = name
        self.refs[logical_id] = ref
        for attribute, value in attrs.items():
            self.attributes[(logical_id, attribute)] = value
        if kind in (FUNCTION, STATE_MACHINE):
            role = f"{logical_id}Role"
            self.refs.setdefault(role, f"{self._env.stack_name}-{role}")
            self.attributes[(role, "Arn")] = self._arn("iam", f"role/{self._env.stack_name}-{role}")


class Builder:
    """Builds the typed specs from the active (condition-true) resources."""

    def __init__(self, base_dir: Path, resolver: Resolver, identities: Identities, active: dict[str, Any]):
        self._base_dir = base_dir
        self._resolver = resolver
        self._identities = identities
        self._active = active

    def _of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, body in self._active.items():
            if body.get("Type") == kind:
                props = self._resolver.resolve(body.get("Properties") or {})
                yield logical_id, props

    def _attr(self, logical_id: str, attribute: str) -> str:
        return str(self._identities.attributes[(logical_id, attribute)])

    def buckets(self) -> Iterator[BucketSpec]:
        from_functions = list(self._s3_function_events())
        for logical_id, props in self._of_type(BUCKET):
            name = self._identities.names[logical_id]
            notifications = [n for bucket, n in from_functions if bucket == name]
            notifications += _declared_notifications(props.get("NotificationConfiguration") or {})
            versioning = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
            yield BucketSpec(logical_id, name, tuple(notifications), versioned=versioning)

    def _s3_function_events(self) -> Iterator[tuple[str, Notification]]:
        for logical_id, props in self._of_type(FUNCTION):
            for event in (props.get("Events") or {}).values():
                if event.get("Type") != "S3":
                    continue
                source = event.get("Properties") or {}
                events = source.get("Events") or "s3:ObjectCreated:*"
                rules = ((source.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
                yield (
                    str(source.get("Bucket")),
                    Notification(
                        target_arn=self._attr(logical_id, "Arn"),
                        kind="lambda",
                        events=tuple(str(e) for e in (events if isinstance(events, list) else [events])),
                        key_filter=_key_filter(rules),
                    ),
                )

    def functions(self) -> Iterator[FunctionSpec]:
        mappings = list(self._of_type(EVENT_SOURCE_MAPPING))
        for logical_id, props in self._of_type(FUNCTION):
            name = self._identities.names[logical_id]
            sources = [
                QueueEventSource(
                    queue_arn=str(p["EventSourceArn"]),
                    batch_size=int(p.get("BatchSize", 10)),
                    maximum_concurrency=_maximum_concurrency(p),
                )
                for _, p in mappings
                if p.get("FunctionName") in (name, self._attr(logical_id, "Arn"))
            ]
            for event in (props.get("Events") or {}).values():
                if event.get("Type") == "SQS":
                    source = event.get("Properties") or {}
                    sources.append(
                        QueueEventSource(
                            queue_arn=str(source["Queue"]),
                            batch_size=int(source.get("BatchSize", 10)),
                            maximum_concurrency=_maximum_concurrency(source),
                        )
                    )
            variables = (props.get("Environment") or {}).get("Variables") or {}
            reserved = props.get("ReservedConcurrentExecutions")
            invoke_config = props.get("EventInvokeConfig") or {}
            dead_letter = props.get("DeadLetterQueue") or {}
            yield FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=self._attr(logical_id, "Arn"),
                code_uri=(self._base_dir / str(props.get("CodeUri", "."))).resolve(),
                handler=str(props["Handler"]),
                runtime=str(props.get("Runtime", "python3.11")),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment={key: _env_string(value) for key, value in variables.items()},
                queue_sources=tuple(sources),
                reserved_concurrency=int(reserved) if reserved is not None else None,
                max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
                max_event_age_seconds=int(invoke_config.get("MaximumEventAgeInSeconds", 21600)),
                dead_letter_arn=str(dead_letter["TargetArn"]) if dead_letter.get("TargetArn") else None,
            )

    def state_machines(self) -> Iterator[StateMachineSpec]:
        for logical_id, props in self._of_type(STATE_MACHINE):
            substitutions = {str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
            if "DefinitionUri" in props:
                uri = props["DefinitionUri"]
                if not isinstance(uri, str):
                    raise TemplateError(f"{logical_id}: only a local DefinitionUri file is supported")
                # Substituted as text, like CloudFormation: placeholders may stand for numbers.
                text = (self._base_dir / uri).read_text(encoding="utf-8")
                definition = _parse_definition(logical_id, substitute(text, substitutions))
            elif "Definition" in props:
                definition = substitute(props["Definition"], substitutions)
            else:
                raise TemplateError(f"{logical_id}: neither DefinitionUri nor Definition")
            yield StateMachineSpec(
                logical_id=logical_id,
                name=self._identities.names[logical_id],
                arn=self._attr(logical_id, "Arn"),
                definition=json.dumps(definition),
                type=str(props.get("Type", "STANDARD")),
            )

    def rules(self) -> Iterator[EventRuleSpec]:
        """Event rules with a pattern and function targets (SAM function events, then `AWS::Events::Rule`)."""
        functions = [(lid, props, self._attr(lid, "Arn")) for lid, props in self._of_type(FUNCTION)]
        yield from rules_from_function_events(functions)
        arns = [arn for _, _, arn in functions]
        yield from rules_from_resources(self._of_type(EVENT_RULE), arns)

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


def _key_filter(rules: list[dict[str, Any]]) -> KeyFilter:
    found = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
    return KeyFilter(prefix=found.get("prefix"), suffix=found.get("suffix"))


def _maximum_concurrency(props: Mapping[str, Any]) -> int | None:
    value = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
    return int(value) if value is not None else None


def _declared_notifications(config: Mapping[str, Any]) -> list[Notification]:
    notifications = []
    for field_name, arn_key, kind in (
        ("LambdaConfigurations", "Function", "lambda"),
        ("QueueConfigurations", "Queue", "sqs"),
    ):
        for entry in config.get(field_name) or []:
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            notifications.append(
                Notification(str(entry[arn_key]), kind, (str(entry["Event"]),), _key_filter(rules))
            )
    return notifications
