"""The stack's specs from the resources of the translated template.

The SAM transform (`local_stack.template.translate`) has already turned functions, their events, Globals,
dead-letter queues and event invoke configs into plain CloudFormation; `for_moto` prepares it for moto's
CloudFormation (names as CloudFormation generates them, without the random suffix; local code and
definitions), and `build` reads the resources it created, their intrinsics resolved. A property the local
stack would silently ignore is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack.cfn import TemplateError
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
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


@dataclass(frozen=True)
class Environment:
    """Where the stack pretends to live."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "ocr-local"


def for_moto(
    translated: Mapping[str, Any],
    parameters: Mapping[str, str],
    definition_files: Mapping[str, Path],
    env: Environment,
) -> dict[str, Any]:
    """The template moto's CloudFormation creates: `parameters` as the defaults of String parameters
    (already checked), each unnamed resource named `<stack>-<logical id>`, a placeholder for each local code
    package (the handlers run from the source tree), each local definition file's text inline."""
    resources = json.loads(json.dumps(translated.get("Resources") or {}))
    for logical_id, body in resources.items():
        props = body.setdefault("Properties", {})
        key, limit = _NAME_PROPERTY.get(body.get("Type"), ("", 0))
        if key and key not in props:
            name = f"{env.stack_name}-{logical_id}"[:limit]
            props[key] = name.lower() if body["Type"] == BUCKET else name
        if body.get("Type") == FUNCTION:
            props["Code"] = {"ZipFile": "handlers run from the project's source tree"}
        if logical_id in definition_files:
            props.pop("DefinitionS3Location", None)
            props["DefinitionString"] = definition_files[logical_id].read_text(encoding="utf-8")
    declared = {name: {"Type": "String", "Default": value} for name, value in parameters.items()}
    return {**translated, "Parameters": declared, "Resources": resources}


def build(
    created: Mapping[str, Mapping[str, Any]],
    types: Mapping[str, str],
    code_uris: Mapping[str, Path],
    env: Environment,
) -> dict[str, Any]:
    """`StackSpec` fields from the resolved properties of the resources moto created (by logical id;
    `types` gives each one's type): functions, state machines, rules, schedules and the other created
    resources. `code_uris` are the local code folders the SAM transform replaced."""
    by_type: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for logical_id, properties in created.items():
        kind = types[logical_id]
        if kind in SUPPORTED:
            by_type.setdefault(kind, []).append((logical_id, properties))
            for head, tail in _NOT_EMULATED.get(kind, ()):
                if tail in (properties.get(head) or {}) if tail else head in properties:
                    where = f"{head}.{tail}" if tail else head
                    raise TemplateError(f"{logical_id}: {where} is not emulated by the local stack")
    invoke_configs = {str(p.get("FunctionName")): p for _, p in by_type.get(INVOKE_CONFIG, [])}
    arn = f"arn:aws:{{}}:{env.region}:{env.account_id}:{{}}:{{}}".format
    functions = []
    for logical_id, props in by_type.get(FUNCTION, []):
        if logical_id not in code_uris:
            raise TemplateError(f"{logical_id}: the local stack needs a local CodeUri")
        name = str(props["FunctionName"])
        invoke = invoke_configs.get(name, {})
        reserved = props.get("ReservedConcurrentExecutions")
        dead_letter = (props.get("DeadLetterConfig") or {}).get("TargetArn")
        on_failure = _on_failure_destination(logical_id, invoke)
        functions.append(
            FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=arn("lambda", "function", name),
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
            name=str(props["StateMachineName"]),
            arn=arn("states", "stateMachine", props["StateMachineName"]),
            definition=definition(logical_id, props),
        )
        for logical_id, props in by_type.get(STATE_MACHINE, [])
    ]
    rules, schedules = read_rules(
        by_type.get(EVENT_RULE, []), [f.arn for f in functions], env.region, env.account_id
    )
    return {
        "functions": tuple(functions),
        "state_machines": tuple(machines),
        "rules": rules,
        "schedules": schedules,
        "resources": tuple(
            Resource(logical_id, kind, str(props[_NAME_PROPERTY[kind][0]]), props)
            for kind in (QUEUE, SECRET, TABLE, BUCKET)
            for logical_id, props in by_type.get(kind, [])
        ),
    }


def definition(logical_id: str, props: Mapping[str, Any]) -> str:
    """The definition as JSON text, `DefinitionSubstitutions` replaced in its text as CloudFormation does
    (a placeholder may stand for a number); unknown placeholders stay and fail the JSON check."""
    if "DefinitionString" not in props:
        raise TemplateError(f"{logical_id}: no local definition (DefinitionUri file or Definition)")
    substitutions = {str(k): str(v) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
    text = _PLACEHOLDER.sub(
        lambda m: substitutions.get(m.group(1), m.group(0)), str(props["DefinitionString"])
    )
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
