"""Create `template.yaml`'s resources in moto and read them into the typed `StackSpec` the stack runs.

The template is read by `local_stack.cfn` and translated offline by the SAM translator (Globals,
function events, dead-letter queues, event invoke configs: SAM's own semantics); parameters take their
defaults unless overridden and are checked against their constraints; moto's CloudFormation creates the
resources and resolves their intrinsics (`local_stack.provision`), so the template that deploys drives the
local run. Resource types the local stack does not run are listed in `StackSpec.ignored`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from local_stack.builder import SUPPORTED, Environment, build, for_moto
from local_stack.cfn import (
    ParameterError,
    TemplateError,
    check_known,
    check_overrides,
    check_parameter,
    declared_parameters,
    read_template,
)
from local_stack.provision import apply_ignored, create_stack
from local_stack.resources import StackSpec

__all__ = [
    "Environment",
    "ParameterError",
    "TemplateError",
    "check_overrides",
    "declared_parameters",
    "plan",
]

log = logging.getLogger(__name__)


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
