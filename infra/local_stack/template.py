"""Create `template.yaml`'s resources in moto and read them into the typed `StackSpec` the stack runs.

The template is read by `local_stack.cfn` and translated offline by the SAM translator (Globals,
function events, dead-letter queues, event invoke configs: SAM's own semantics); parameters take their
defaults unless overridden and are checked against their constraints; moto's CloudFormation creates the
resources and resolves their intrinsics (`local_stack.provision`), so the template that deploys drives the
local run. Resource types the local stack does not run are listed in `StackSpec.ignored`.

`for_moto` prepares the translated template for moto's CloudFormation (names as CloudFormation generates
them, without the random suffix; local code and definitions), and `build` reads the resources it
created, their intrinsics resolved, into the specs. A property the local stack would silently ignore
is refused.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from local_stack.cfn import (
    ParameterError,
    TemplateError,
    check_known,
    check_overrides,
    check_parameter,
    declared_parameters,
    read_template,
)
from local_stack.event_rules import EVENT_RULE, read_rules
from local_stack.provision import apply_ignored, create_stack, definition
from local_stack.resources import (
    BUCKET,
    QUEUE,
    SECRET,
    TABLE,
    FunctionSpec,
    Resource,
    StackSpec,
    StateMachineSpec,
)

__all__ = [
    "Environment",
    "ParameterError",
    "TemplateError",
    "check_overrides",
    "declared_parameters",
    "plan",
]

log = logging.getLogger(__name__)

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


_LOCAL_URI = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::StateMachine": "DefinitionUri"}


def plan(
    template_path: Path,
    overrides: Mapping[str, str] | None = None,
    environment: Environment | None = None,
    *,
    check_constraints: bool = True,
) -> StackSpec:
    """Create the resources of `template_path` with parameter `overrides` in this process's moto (a
    running `local_stack.server` or `moto.mock_aws`) and return what the local stack runs.

    Raises `ParameterError` on an unknown override or (with `check_constraints`) a value breaking its
    `AllowedValues`, `AllowedPattern`, `MinValue`/`MaxValue` or `Number` type, as CloudFormation does at
    deploy time; `TemplateError` on a parameter without a value or an intrinsic that cannot be resolved.
    """
    env = environment or Environment()
    template = read_template(template_path)
    parameters = _parameters(template.get("Parameters") or {}, dict(overrides or {}), check_constraints)
    translated, code_uris, definition_files = translate(template, template_path.parent, parameters, env)
    document = for_moto(translated, parameters, definition_files, env)
    created, active = create_stack(document, env.stack_name, env.account_id, env.region, frozenset(SUPPORTED))
    types = {lid: str(body.get("Type", "?")) for lid, body in document["Resources"].items()}
    ignored = {lid: kind for lid, kind in types.items() if active[lid] and kind not in SUPPORTED}
    if ignored:
        kinds = Counter(ignored.values())
        summary = ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
        log.info("resources not emulated, skipped: %s", summary, extra={"ignored": ignored})
    built = build(created, types, code_uris, env)
    spec = StackSpec(parameters=parameters, ignored=ignored, **built)
    apply_ignored(spec, env.region)
    return spec


def translate(
    template: Mapping[str, Any], base_dir: Path, parameters: Mapping[str, Any], env: Environment
) -> tuple[dict[str, Any], dict[str, Path], dict[str, Path]]:
    """The SAM transform, offline: (CloudFormation template, local code folder and local definition file
    of each function / state machine by logical id). Local `CodeUri`/`DefinitionUri` paths are replaced
    by dummy S3 locations for the translator, and kept here for the local stack."""
    document: dict[str, Any] = json.loads(json.dumps(template))
    local: dict[str, dict[str, Path]] = {"CodeUri": {}, "DefinitionUri": {}}
    function_globals = (document.get("Globals") or {}).get("Function") or {}
    default_code = function_globals.get("CodeUri")
    if isinstance(default_code, str):
        function_globals["CodeUri"] = "s3://local-code/globals"
    for logical_id, body in (document.get("Resources") or {}).items():
        key = _LOCAL_URI.get(body.get("Type"))
        if key is None:
            continue
        props = body.setdefault("Properties", {})
        uri = props.get(key, default_code if key == "CodeUri" else None)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            local[key][logical_id] = (base_dir / uri).resolve()
            props[key] = f"s3://local/{logical_id}"
    code_uris, definition_files = local["CodeUri"], local["DefinitionUri"]
    if "Serverless" not in str(document.get("Transform", "")):
        return document, code_uris, definition_files
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=env.region))
    try:
        translated = translator.translate(
            document,
            parameter_values=dict(parameters),
            get_managed_policy_map=dict,  # asked only when a function names a managed policy: none
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause.message) for cause in exc.causes)
        raise TemplateError(f"the SAM transform refused the template: {causes}") from exc
    finally:
        translator.metrics.publish()  # to its dummy publisher; unpublished metrics warn at exit
    return translated, code_uris, definition_files


def _parameters(declared: Mapping[str, Any], overrides: dict[str, str], check: bool) -> dict[str, Any]:
    check_known(declared, overrides)
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default and no override")
        if check:
            check_parameter(name, spec, str(value))
        if spec.get("Type", "String") not in ("String", "Number"):
            raise TemplateError(
                f"parameter {name}: type {spec.get('Type')} is not supported by the local stack"
            )
        values[name] = str(value)
    return values
