"""Create the resources of a `StackSpec` in moto through the ordinary AWS APIs."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from local_stack.builder import as_text
from local_stack.resources import BUCKET, QUEUE, SECRET, TABLE, StackSpec, notifications

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
    """Lambda insists on a code package; the handlers run from the project's source tree, not from it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Handlers run from the project's source tree.\n")
    return buffer.getvalue()


def provision(spec: StackSpec, clients: dict[str, Any]) -> None:
    """Create queues, secrets, functions, tables, state machines, buckets (+ notifications).

    `clients` holds boto3 clients keyed by service name (iam, sqs, secretsmanager, lambda, dynamodb, s3,
    stepfunctions).
    """
    try:
        iam, s3 = clients["iam"], clients["s3"]
        role = iam.create_role(RoleName=_ROLE_NAME, AssumeRolePolicyDocument=_TRUST_POLICY)["Role"]["Arn"]
        # Dead-letter queues first: a RedrivePolicy must name an existing queue.
        for queue in sorted(spec.of_type(QUEUE), key=lambda q: "RedrivePolicy" in q.properties):
            attributes = {
                k: as_text(v) for k, v in queue.properties.items() if k not in ("QueueName", "Tags")
            }
            clients["sqs"].create_queue(QueueName=queue.name, Attributes=attributes)
        for secret in spec.of_type(SECRET):
            clients["secretsmanager"].create_secret(
                Name=secret.name, SecretString=secret.properties["SecretString"]
            )
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
        for table in spec.of_type(TABLE):
            clients["dynamodb"].create_table(
                TableName=table.name,
                KeySchema=table.properties["KeySchema"],
                AttributeDefinitions=table.properties["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
        for machine in spec.state_machines:
            clients["stepfunctions"].create_state_machine(
                name=machine.name, definition=machine.definition, roleArn=role, type=machine.type
            )
        for bucket in spec.of_type(BUCKET):
            s3.create_bucket(Bucket=bucket.name)
            if (bucket.properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
            if lambdas := notifications(bucket):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket.name, NotificationConfiguration={"LambdaFunctionConfigurations": lambdas}
                )
    except Exception as exc:
        raise ProvisionError(f"cannot create the local stack: {exc}") from exc
    log.info(
        "local stack provisioned",
        extra={"resources": [r.name for r in spec.resources], "ignored": sorted(spec.ignored)},
    )
