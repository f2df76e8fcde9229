"""Create the translated template's resources with moto's own CloudFormation, then apply what it leaves out.

moto's `CreateStack` creates the queues, tables, functions, roles, rules and the rest, and resolves the
intrinsics of every resource (`clean_json` over the stack's resource map, read back here). Two models of
its are missing or wrong and are registered here: secrets (`_Secret`) and state machines (`_StateMachine`:
created where the Step Functions API looks, `DefinitionSubstitutions` applied). A bucket's versioning and
Lambda notifications, which it ignores, are applied through the S3 API. A reference to a resource moto does
not create, or an intrinsic it leaves unevaluated, would be dropped or kept silently: both are refused.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any

import boto3
from moto.cloudformation import parsing
from moto.cloudformation.models import cloudformation_backends
from moto.core.common_models import CloudFormationModel

from local_stack.cfn import TemplateError
from local_stack.resources import StackSpec, notifications


class ProvisionError(RuntimeError):
    """A resource of the template could not be created locally."""


class _Secret(CloudFormationModel):
    """`AWS::SecretsManager::Secret` for moto's CloudFormation (`Ref` is the secret's ARN)."""

    def __init__(self, arn: str):
        self.physical_resource_id = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **_: Any
    ) -> _Secret:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[account_id][region_name].create_secret(
            name=resource_name,
            secret_string=cloudformation_json["Properties"].get("SecretString"),
            secret_binary=None,
            description=None,
            tags=None,
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(secret)["ARN"])


class _StateMachine(CloudFormationModel):
    """`AWS::StepFunctions::StateMachine` created where the Step Functions API looks (moto's own model
    creates it in the backend that does not execute), its `DefinitionSubstitutions` applied."""

    def __init__(self, arn: str, name: str):
        self.physical_resource_id, self.name = arn, name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::StepFunctions::StateMachine"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "StateMachineName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> _StateMachine:
        from moto.stepfunctions.responses import get_backend

        props = cloudformation_json["Properties"]
        name = props.get("StateMachineName", resource_name)  # moto asks its own model for the name property
        machine = get_backend(account_id, region_name).create_state_machine(
            name=name,
            definition=definition(str(kwargs.get("LogicalId")), props),
            roleArn=props["RoleArn"],
            sm_type=props.get("StateMachineType", "STANDARD"),
        )
        return cls(machine.arn, name)

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {"Arn": self.physical_resource_id, "Name": self.name}[attribute_name]


for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
    cached.cache_clear()  # lists CloudFormationModel's subclasses once: the two above are now
if parsing.get_model_map()[_StateMachine.cloudformation_type()] is not _StateMachine:
    raise ImportError("moto's CloudFormation does not take the local state machine model")


class _WithoutUnsupportedTypes(logging.Filter):
    """moto logs "No Moto CloudFormation support for <type>" at each look-up; `ignored` lists them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No Moto CloudFormation support")


parsing.logger.addFilter(_WithoutUnsupportedTypes())
_EVALUATED = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split"})
_EVALUATED |= {"Fn::Base64", "Fn::ToJsonString"}
_SUB_NAME = re.compile(r"\$\{([^!}.][^}.]*)")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def create_stack(
    document: Mapping[str, Any], name: str, account_id: str, region: str, read: frozenset[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, bool]]:
    """Create `document` (a CloudFormation template, parameters included) as stack `name`; return the
    resolved properties of each resource of a type in `read` whose condition holds (created by moto or
    not: an event invoke config is only read), and whether each resource's condition holds."""
    with warnings.catch_warnings():  # one per type it does not create, at each look-up: `ignored` lists them
        warnings.simplefilter("ignore")
        try:
            stack = cloudformation_backends[account_id][region].create_stack(
                name=name, template=json.dumps(document), parameters={}
            )
        except Exception as exc:  # moto's parser raises what it meets: a KeyError is a name it cannot resolve
            cause = f"cannot resolve {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__} {exc}"
            raise TemplateError(f"the template cannot be created: {cause}") from exc
        resources, written = stack.resource_map, document["Resources"]
        active = {
            lid: "Condition" not in body or bool(resources.lazy_condition_map[body["Condition"]])
            for lid, body in written.items()
        }
        created = {lid for lid, on in active.items() if on and resources[lid] is not None}
        properties = {}
        for lid, body in written.items():
            if active[lid] and body.get("Type") in read:
                _check_references(lid, body.get("Properties") or {}, written, created)
                properties[lid] = parsing.clean_json(body.get("Properties") or {}, resources)
    return properties, active


def _check_references(logical_id: str, node: Any, resources: Mapping[str, Any], created: set[str]) -> None:
    """Refuse an intrinsic moto leaves unevaluated, or a reference to a resource it did not create (moto
    would drop the property silently)."""
    if isinstance(node, list):
        for item in node:
            _check_references(logical_id, item, resources, created)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        names: list[str] = []
        if key in ("Ref", "Fn::GetAtt"):
            names = [str(value if isinstance(value, str) else value[0]).split(".")[0]]
        elif key == "Fn::Sub":
            names = _SUB_NAME.findall(value if isinstance(value, str) else str(value[0]))
        elif str(key).startswith("Fn::") and key not in _EVALUATED:
            raise TemplateError(f"{logical_id}: {key} is not supported by the local stack")
        for name in names:
            if name in resources and name not in created:
                kind = resources[name].get("Type")
                raise TemplateError(
                    f"{logical_id} refers to {name} ({kind}), which the local stack does not create"
                )
        _check_references(logical_id, value, resources, created)


def apply_ignored(spec: StackSpec, region: str) -> None:
    """Apply what moto's CloudFormation ignores: bucket versioning and Lambda notifications."""
    try:
        s3: Any = boto3.client("s3", region_name=region)
        for bucket in spec.buckets:
            if (bucket.properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
            if lambdas := notifications(bucket):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket.name, NotificationConfiguration={"LambdaFunctionConfigurations": lambdas}
                )
    except Exception as exc:
        raise ProvisionError(f"cannot create the local stack: {exc}") from exc


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
