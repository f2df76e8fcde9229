"""The stack a reprocess run works on: bucket, state machine, layout; and the lookups it needs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ocr_pipeline.domain.keys import execution_name
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.errors import ConfigurationError
from ocr_pipeline.settings import LayoutSettings, load_settings
from reprocess.listing import object_ref
from reprocess.plan import Candidate

MAX_RECORD_BYTES = 1_000_000
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
LAYOUT_FIELDS: tuple[str, ...] = tuple(LayoutSettings.model_fields)
"""Every prefix of the layout (``INPUT_PREFIX``, ``TEXT_PREFIX``, ...): one option and parameter each."""
DEFAULT_PREFIXES = {
    "INPUT_PREFIX": "incoming/",
    "TEXT_PREFIX": "text/",
    "BINARIZED_PREFIX": "binarized/",
    "DESKEWED_PREFIX": "deskewed/",
    "UPSCALED_PREFIX": "upscaled/",
    "RESULT_PREFIX": "results/",
    "FAILED_PREFIX": "failed/",
    "SUBMISSION_PREFIX": "submissions/",
}
"""The template's defaults (a unit test keeps them equal)."""


def parameter_name(field_name: str) -> str:
    """The template parameter of a layout field (``RESULT_PREFIX`` → ``ResultPrefix``)."""
    return "".join(part.capitalize() for part in field_name.split("_"))


def option_name(field_name: str) -> str:
    """The command-line option of a layout field (``RESULT_PREFIX`` → ``--result-prefix``)."""
    return "--" + field_name.lower().replace("_", "-")


class UserError(Exception):
    """The command as given cannot run; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to list objects and which state machine to start."""

    bucket: str
    state_machine_arn: str
    layout: LayoutSettings
    suffixes: frozenset[str]

    def check_exists(self, s3: Any, sfn: Any) -> None:
        """:class:`UserError` unless the bucket and the state machine exist (before anything is listed)."""
        try:
            s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            raise UserError(f"bucket {self.bucket!r}: {_code(exc)}") from exc
        try:
            sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
        except ClientError as exc:
            raise UserError(f"state machine {self.state_machine_arn!r}: {_code(exc)}") from exc

    def existing_execution(self, sfn: Any, candidate: Candidate) -> tuple[str, bool]:
        """The candidate's execution name, and whether an execution of that name exists already."""
        obj = candidate.obj
        name = execution_name(obj.bucket, obj.key, obj.version, run=candidate.run)
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        try:
            sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            return name, False
        return name, True


@dataclass
class FailedObjects:
    """The current version of each object named by a failure record, and the records that name none."""

    objects: list[ObjectRef] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Message") or error.get("Code") or exc)


def _layout(values: Mapping[str, str]) -> LayoutSettings:
    try:
        return load_settings(LayoutSettings, values)
    except ConfigurationError as exc:
        raise UserError(str(exc)) from exc


def _suffixes(text: str) -> frozenset[str]:
    suffixes = frozenset(s.strip().lower().lstrip(".") for s in text.split(",") if s.strip())
    if not suffixes:
        raise UserError("--suffixes names no suffix")
    return suffixes


def target_from_args(args: argparse.Namespace) -> Target:
    """The target named by ``--bucket``, ``--state-machine-arn`` and the layout options."""
    if not args.bucket or not args.state_machine_arn:
        raise UserError("give --stack, or both --bucket and --state-machine-arn")
    layout = _layout({name: getattr(args, name.lower()) for name in LAYOUT_FIELDS})
    return Target(args.bucket, args.state_machine_arn, layout, _suffixes(args.suffixes))


def target_from_stack(cloudformation: Any, stack: str) -> Target:
    """The target a deployed stack describes: its outputs and its layout parameters."""
    try:
        (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise UserError(f"stack {stack!r}: {_code(exc)}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    missing = [name for name in ("InputBucketName", "StateMachineArn") if name not in outputs]
    if missing:
        raise UserError(f"stack {stack!r} has no output {', '.join(missing)}")
    layout = _layout({name: parameters.get(parameter_name(name), "") for name in LAYOUT_FIELDS})
    suffixes = _suffixes(parameters.get("AllowedSuffixes", ""))
    return Target(outputs["InputBucketName"], outputs["StateMachineArn"], layout, suffixes)


def failed_objects(s3: Any, target: Target, failure_keys: Mapping[str, str], prefix: str) -> FailedObjects:
    """Read each failure record's input key and look up that object's current version.

    A record whose object is gone, lies outside ``prefix`` or cannot be read is noted, not retried.
    """
    found = FailedObjects()
    for failed_key in failure_keys:
        try:
            body = s3.get_object(Bucket=target.bucket, Key=failed_key)["Body"]
            try:
                record = json.loads(body.read(MAX_RECORD_BYTES + 1)[: MAX_RECORD_BYTES + 1])
            finally:
                body.close()
            key = str(record["input"]["key"])
        except (ValueError, KeyError, TypeError) as exc:
            found.notes.append(f"unreadable\t{failed_key}\t{type(exc).__name__}")
            continue
        if not key.startswith(prefix):
            continue
        try:
            head = s3.head_object(Bucket=target.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                found.notes.append(f"missing\t{key}\t(failure record {failed_key})")
                continue
            raise
        found.objects.append(
            object_ref(target.bucket, key, head.get("VersionId"), head.get("ETag"), head.get("ContentLength"))
        )
    return found
