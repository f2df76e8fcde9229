"""OCR API credentials from Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from ocr_pipeline.adapters.secrets import secret_credentials
from ocr_pipeline.errors import ConfigurationError


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _secret(value: object) -> str:
    client = boto3.client("secretsmanager")
    return str(client.create_secret(Name="ocr-api", SecretString=json.dumps(value))["ARN"])


def test_secret_credentials_reads_the_json_pair_and_hides_the_secret(aws: None) -> None:
    # GIVEN a secret holding the client credentials
    arn = _secret({"client_id": "id-1", "client_secret": "s3cr3t"})

    # WHEN the provider is asked for them
    credentials = secret_credentials(arn, max_age=60)()

    # THEN both fields come back, and the secret never shows in a repr
    assert (credentials.client_id, credentials.client_secret) == ("id-1", "s3cr3t")
    assert "s3cr3t" not in repr(credentials)


def test_secret_credentials_without_client_id_is_a_configuration_error(aws: None) -> None:
    # GIVEN a secret missing client_id
    arn = _secret({"client_secret": "x"})

    # WHEN / THEN reading it fails with a named error
    with pytest.raises(ConfigurationError, match="client_id"):
        secret_credentials(arn, max_age=60)()


def test_secret_credentials_own_their_provider_not_the_process_wide_default(aws: None) -> None:
    # GIVEN Powertools' process-wide default provider holds a client from an earlier environment
    arn = _secret({"client_id": "id-1", "client_secret": "x"})
    stale = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager", region_name="eu-west-1"))
    parameters.base.DEFAULT_PROVIDERS["secrets"] = stale
    try:
        # WHEN credentials are read through a provider built at this cold start
        credentials = secret_credentials(arn, max_age=0)()
    finally:
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        parameters.base.DEFAULT_PROVIDERS.pop("secrets", None)

    # THEN they came from this environment's client, not the stale default's (wrong region, no secret)
    assert credentials.client_id == "id-1"


def test_secret_credentials_use_the_default_session_instead_of_building_one(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a function whose other clients already come from boto3's default session
    boto3.client("s3")
    built: list[object] = []
    session_init = boto3.session.Session.__init__

    def counting_init(self: boto3.session.Session, *args: object, **kwargs: object) -> None:
        built.append(self)
        session_init(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counting_init)
    arn = _secret({"client_id": "id-1", "client_secret": "s3cr3t"})

    # WHEN the credentials provider is built at cold start and asked once
    credentials = secret_credentials(arn, max_age=60)()

    # THEN no boto3 session was built for it (one costs a cold start ~35 ms of CPU), and it reads the secret
    assert built == []
    assert credentials.client_id == "id-1"
