"""In-process AWS (moto) for the pipeline's handlers: bucket, secret, state machine, fresh handler modules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tests.unit.pipeline.pipeline_support import (
    BUCKET,
    OCR_ENV,
    ON_UPLOAD_ENV,
    FakeLambdaContext,
    import_fresh,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
SECRET_NAME = "ocr-api-credentials"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ocr-pipeline"
ADMISSION_TABLE = "ocr-admission"
MINIMAL_ASL = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@dataclass
class Aws:
    """Handles on the mocked account plus a way to import handlers configured for it."""

    s3: Any
    sfn: Any
    state_machine_arn: str
    env: dict[str, str]
    monkeypatch: pytest.MonkeyPatch

    def handler(self, module: str, **overrides: str) -> Callable[[dict[str, Any]], Any]:
        """Import ``ocr_pipeline.handlers.<module>`` under the env plus ``overrides``; return a caller."""
        for name, value in {**self.env, **overrides}.items():
            self.monkeypatch.setenv(name, value)
        loaded = import_fresh(f"ocr_pipeline.handlers.{module}")
        return lambda event: loaded.handler(event, FakeLambdaContext())

    def put(self, key: str, body: bytes) -> str:
        """Upload an object; return its eTag without quotes."""
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return str(response["ETag"]).strip('"')

    def read(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return data

    def run_job(
        self, obj: dict[str, Any], execution: str, *, deadline_seconds: float = 60.0, pause: float = 0.0
    ) -> dict[str, Any]:
        """Drive the stages like the state machine does (without its waits) until recognition is done."""
        preprocess, recognize = self.handler("preprocess"), self.handler("recognize")
        job: dict[str, Any] = preprocess({"action": "check_image", "object": obj, "execution": execution})
        deadline = time.monotonic() + deadline_seconds
        while job["next"] != "done":
            stage = job["next"]
            function = recognize if stage == "recognize" else preprocess
            event = {"stage": stage, "object": obj, "execution": execution}
            job = function({**event, "action": "submit", "job": job})
            while job["status"] == "pending":
                if time.monotonic() > deadline:
                    raise AssertionError(f"job not done after {deadline_seconds} s: {job}")
                time.sleep(pause)
                job = function({**event, "action": "poll", "job": job})
        return job

    def object_keys(self) -> set[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET)
        return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "ocr-pipeline-test",
        "POWERTOOLS_METRICS_NAMESPACE": "OcrPipelineTest",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secret_arn = secrets.create_secret(
            Name=SECRET_NAME,
            SecretString=json.dumps({"client_id": "local-client", "client_secret": "local-secret"}),
        )["ARN"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="OcrStateMachine", definition=MINIMAL_ASL, roleArn=ROLE_ARN)[
            "stateMachineArn"
        ]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=ADMISSION_TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        env = {
            **OCR_ENV,
            **ON_UPLOAD_ENV,
            "STATE_MACHINE_ARN": arn,
            "OCR_CREDENTIALS_SECRET": secret_arn,
            "ADMISSION_TABLE": ADMISSION_TABLE,
            "API_CONCURRENCY": "1",
        }
        yield Aws(s3=s3, sfn=sfn, state_machine_arn=arn, env=env, monkeypatch=monkeypatch)
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
