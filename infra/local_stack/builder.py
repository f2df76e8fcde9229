"""The stack's specs from the resources of the translated template.

The SAM transform (`local_stack.template.translate`) has already turned functions, their events, Globals,
dead-letter queues and event invoke configs into plain CloudFormation; this module predicts each
resource's name and ARNs as CloudFormation generates them, resolves every intrinsic against them, and
reads the resources the local stack creates. A property the local stack would silently ignore is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.cfn import Resolver, TemplateError
from local_stack.event_rules import EVENT_RULE, read_rules
from local_stack.resources import BUCKET, QUEUE, SECRET, TABLE, FunctionSpec, Resource, StateMachineSpec

FUNCTION = "AWS::Lambda::Function"
INVOKE_CONFIG = "AWS::Lambda::EventInvokeConfig"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
SUPPORTED = (BUCKET, QUEUE, SECRET, TABLE, FUNCTION, INVOKE_CONFIG, STATE_MACHINE, EVENT_RULE)
"""Resource types created locally; every other type is listed as not emulated and skipped."""

_NAME_PROPERTY = {
    BUCKET: ("BucketName", 63),
    FUNCTION: ("FunctionName", 64),
    STATE_MACHINE: ("StateMachineName", 80),
    SECRET: ("Name", 512),
    QUEUE: ("QueueName", 80),
    TABLE: ("TableName", 255),
}
_NOT_EMULATED = {  # (property, sub-property or ""): refused rather than silently left out
    BUCKET: (
        ("NotificationConfiguration", "QueueConfigurations"),
        ("NotificationConfiguration", "TopicConfigurations"),
    ),
    TABLE: (("TimeToLiveSpecification", ""), ("StreamSpecification", "")),
    SECRET: (("GenerateSecretString", ""),),
}
_SERVICE = {"stepfunctions": "states"}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


@dataclass(frozen=True)
class Environment:
    """Where the stack pretends to live."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "ocr-local"
    partition: str = "aws"
    queue_endpoint: str = "http://127.0.0.1:5000"


def identities(
    resources: Mapping[str, Any], env: Environment, resolver: Resolver
) -> tuple[dict[str, str], dict[str, Any]]:
    """(physical name by logical id, `Ref` value by logical id and `Fn::GetAtt` values by `"Id.Attribute"`)
    of every resource, named as CloudFormation names them; an explicit name may depend on parameters only
    (`resolver`)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for logical_id, body in resources.items():
        kind = str(body.get("Type", ""))
        key, limit = _NAME_PROPERTY.get(kind, ("Name", 128))
        explicit = (body.get("Properties") or {}).get(key)
        try:
            name = (
                f"{env.stack_name}-{logical_id}"[:limit]
                if explicit is None
                else str(resolver.resolve(explicit))
            )
        except TemplateError as exc:
            raise TemplateError(f"{logical_id}.{key} must depend on parameters only: {exc}") from exc
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
        arn = f"arn:{env.partition}:{_SERVICE.get(service, service)}:{env.region}:{env.account_id}:"
        ref: Any = name
        attributes: dict[str, Any] = {"Arn": arn + name}
        if kind == BUCKET:
            ref = name = name.lower()
            attributes = {"Arn": f"arn:{env.partition}:s3:::{name}"}
        elif kind == FUNCTION:
            attributes = {"Arn": f"{arn}function:{name}"}
        elif kind == STATE_MACHINE:
            ref = f"{arn}stateMachine:{name}"
            attributes = {"Arn": ref, "Name": name}
        elif kind == SECRET:
            ref = f"{arn}secret:{name}"
        elif kind == QUEUE:
            ref = f"{env.queue_endpoint}/{env.account_id}/{name}"
            attributes = {"Arn": arn + name, "QueueName": name, "QueueUrl": ref}
        elif kind == TABLE:
            attributes = {"Arn": f"{arn}table/{name}"}
        names[logical_id], values[logical_id] = name, ref
        values.update({f"{logical_id}.{attribute}": value for attribute, value in attributes.items()})
    return names, values


def build(
    active: Mapping[str, Any],
    resolver: Resolver,
    names: Mapping[str, str],
    code_uris: Mapping[str, Path],
    definition_files: Mapping[str, Path],
    env: Environment,
) -> dict[str, Any]:
    """`StackSpec` fields from the active (condition-true) resources: functions, state machines, rules,
    schedules and the other created resources. `code_uris` and `definition_files` are the local paths the
    SAM transform replaced by S3 locations."""
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for logical_id, body in active.items():
        if body.get("Type") in SUPPORTED:
            properties = resolver.resolve(body.get("Properties") or {})
            by_type.setdefault(body["Type"], []).append((logical_id, properties))
            for head, tail in _NOT_EMULATED.get(body["Type"], ()):
                if tail in (properties.get(head) or {}) if tail else head in properties:
                    where = f"{head}.{tail}" if tail else head
                    raise TemplateError(f"{logical_id}: {where} is not emulated by the local stack")
    invoke_configs = {str(p.get("FunctionName")): p for _, p in by_type.get(INVOKE_CONFIG, [])}
    functions = []
    for logical_id, props in by_type.get(FUNCTION, []):
        if logical_id not in code_uris:
            raise TemplateError(f"{logical_id}: the local stack needs a local CodeUri")
        name = names[logical_id]
        invoke = invoke_configs.get(name, {})
        reserved = props.get("ReservedConcurrentExecutions")
        dead_letter = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        on_failure = _on_failure_destination(logical_id, invoke)
        functions.append(
            FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=resolver.value(f"{logical_id}.Arn"),
                code_uri=code_uris[logical_id],
                handler=str(props["Handler"]),
                runtime=str(props.get("Runtime", "python3.11")),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment={
                    k: as_text(v)
                    for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()
                },
                reserved_concurrency=int(reserved) if reserved is not None else None,
                max_retry_attempts=int(invoke.get("MaximumRetryAttempts", 2)),
                max_event_age_seconds=int(invoke.get("MaximumEventAgeInSeconds", 21600)),
                dead_letter_arn=str(dead_letter) if dead_letter else None,
                on_failure_arn=on_failure,
            )
        )
    machines = [
        StateMachineSpec(
            logical_id=logical_id,
            name=names[logical_id],
            arn=resolver.value(logical_id),
            definition=_definition(logical_id, props, definition_files.get(logical_id)),
            type=str(props.get("StateMachineType", "STANDARD")),
        )
        for logical_id, props in by_type.get(STATE_MACHINE, [])
    ]
    arns = [f.arn for f in functions]
    rules, schedules = read_rules(by_type.get(EVENT_RULE, []), arns, env.region, env.account_id)
    return {
        "functions": tuple(functions),
        "state_machines": tuple(machines),
        "rules": rules,
        "schedules": schedules,
        "resources": tuple(
            Resource(logical_id, kind, names[logical_id], props)
            for kind in (QUEUE, SECRET, TABLE, BUCKET)
            for logical_id, props in by_type.get(kind, [])
        ),
    }


def _definition(logical_id: str, props: Mapping[str, Any], local_file: Path | None) -> str:
    """The definition as JSON text, `DefinitionSubstitutions` replaced in its text as CloudFormation does
    (a placeholder may stand for a number); unknown placeholders stay and fail the JSON check."""
    if local_file is not None:
        text = local_file.read_text(encoding="utf-8")
    elif "DefinitionString" in props:
        text = str(props["DefinitionString"])
    else:
        raise TemplateError(f"{logical_id}: no local definition (DefinitionUri file or Definition)")
    substitutions = {str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
    text = _PLACEHOLDER.sub(lambda m: substitutions.get(m.group(1), m.group(0)), text)
    try:
        return json.dumps(json.loads(text))
    except json.JSONDecodeError as exc:
        left = sorted(set(_PLACEHOLDER.findall(text)))
        hint = f"; placeholders without a DefinitionSubstitutions value: {left}" if left else ""
        raise TemplateError(f"{logical_id}: definition is not valid JSON after substitution{hint}") from exc


def as_text(value: Any) -> str:
    """A property value as the APIs take strings: booleans in lower case, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _on_failure_destination(logical_id: str, invoke_config: Mapping[str, Any]) -> str | None:
    """The SQS queue of `DestinationConfig.OnFailure`; other destinations are refused by name."""
    destinations = invoke_config.get("DestinationConfig") or {}
    if "OnSuccess" in destinations:
        raise TemplateError(f"{logical_id}: DestinationConfig.OnSuccess is not emulated by the local stack")
    target = (destinations.get("OnFailure") or {}).get("Destination")
    if target is None:
        return None
    if ":sqs:" not in str(target):
        raise TemplateError(
            f"{logical_id}: DestinationConfig.OnFailure {target} is not an SQS queue (not emulated)"
        )
    return str(target)
