"""Create the resources of a `StackSpec` in moto through the ordinary AWS APIs."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from local_stack.resources import QueueSpec, StackSpec

log = logging.getLogger(__name__)

_ROLE_NAME = "ocr-local-execution-role"
# moto checks that a role exists, not what it allows (IAM is not enforced locally).
_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


class ProvisionError(RuntimeError):
    """A resource of the template could not be created locally."""


def _placeholder_zip() -> bytes:
    """Lambda insists on a code package; the handlers are imported from the host, not from it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Handlers run in-process from the project's source tree.\n")
    return buffer.getvalue()


def _queue_order(queues: tuple[QueueSpec, ...]) -> list[QueueSpec]:
    """Dead-letter queues first: a RedrivePolicy must name an existing queue."""
    return sorted(queues, key=lambda q: "RedrivePolicy" in q.attributes)


def provision(spec: StackSpec, clients: dict[str, Any]) -> None:
    """Create queues, secrets, functions, tables, state machines, buckets (+ notifications).

    `clients` holds boto3 clients keyed by service name (iam, sqs, secretsmanager, lambda, dynamodb, s3,
    stepfunctions).
    """
    try:
        role = clients["iam"].create_role(RoleName=_ROLE_NAME, AssumeRolePolicyDocument=_TRUST_POLICY)[
            "Role"
        ]["Arn"]
        for queue in _queue_order(spec.queues):
            clients["sqs"].create_queue(QueueName=queue.name, Attributes=queue.attributes)
        for secret in spec.secrets:
            clients["secretsmanager"].create_secret(Name=secret.name, SecretString=secret.secret_string)
        code = _placeholder_zip()
        for function in spec.functions:
            clients["lambda"].create_function(
                FunctionName=function.name,
                Runtime=function.runtime,
                Role=role,
                Handler=function.handler,
                Code={"ZipFile": code},
                Timeout=function.timeout,
                MemorySize=function.memory_size,
                Environment={"Variables": function.environment},
            )
        for table in spec.tables:
            clients["dynamodb"].create_table(
                TableName=table.name,
                KeySchema=list(table.key_schema),
                AttributeDefinitions=list(table.attribute_definitions),
                BillingMode="PAY_PER_REQUEST",
            )
            if table.ttl_attribute:
                clients["dynamodb"].update_time_to_live(
                    TableName=table.name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        for machine in spec.state_machines:
            clients["stepfunctions"].create_state_machine(
                name=machine.name, definition=machine.definition, roleArn=role, type=machine.type
            )
        for bucket in spec.buckets:
            clients["s3"].create_bucket(Bucket=bucket.name)
            if bucket.versioned:
                clients["s3"].put_bucket_versioning(
                    Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
                )
            notification = bucket.notification_configuration()
            if notification:
                clients["s3"].put_bucket_notification_configuration(
                    Bucket=bucket.name, NotificationConfiguration=notification
                )
    except Exception as exc:
        raise ProvisionError(f"cannot create the local stack: {exc}") from exc
    log.info(
        "local stack provisioned",
        extra={
            "buckets": [b.name for b in spec.buckets],
            "functions": [f.name for f in spec.functions],
            "state_machines": [m.name for m in spec.state_machines],
            "ignored": sorted(spec.ignored),
        },
    )
