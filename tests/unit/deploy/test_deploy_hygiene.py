"""Deploy hygiene: no cleartext API URL, no default secret, secret JSON serialised, S3 permission scoped."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from local_stack.template import plan
from ocr_pipeline.adapters.secrets import secret_credentials
from ocr_pipeline.errors import ConfigurationError
from ocr_pipeline.settings import OcrSettings, load_settings
from tests.unit.pipeline.pipeline_support import OCR_ENV
from tests.unit.template.template_support import TEMPLATE, properties, template

ACCEPTED = [
    "https://api.aspose.cloud",
    "https://ocr.example.com:8443/base",
    "http://127.0.0.1:8085",
    "http://127.1.2.3",
    "http://localhost:9000/v5",
    "http://[::1]:8085",
]
REFUSED = [
    "http://api.aspose.cloud",
    "http://10.0.0.5:8085",
    "http://localhost.example.com",
    "http://127.0.0.1.example.com",
    "ftp://api.aspose.cloud",
    "https://",
]


def _base_url_pattern() -> re.Pattern[str]:
    return re.compile(template()["Parameters"]["OcrApiBaseUrl"]["AllowedPattern"])


@pytest.mark.parametrize("url", ACCEPTED)
def test_https_or_loopback_http_base_url_is_accepted_by_template_and_settings(url: str) -> None:
    # GIVEN / WHEN the URL is checked by the template's pattern and by the functions' settings
    settings = load_settings(OcrSettings, {**OCR_ENV, "OCR_API_BASE_URL": url})

    # THEN both accept it
    assert _base_url_pattern().fullmatch(url)
    assert url == settings.OCR_API_BASE_URL


@pytest.mark.parametrize("url", REFUSED)
def test_cleartext_or_malformed_base_url_is_refused_by_template_and_settings(url: str) -> None:
    # GIVEN / WHEN / THEN the template refuses it at deploy time and the settings at cold start
    assert not _base_url_pattern().fullmatch(url)
    with pytest.raises(ConfigurationError, match="OCR_API_BASE_URL"):
        load_settings(OcrSettings, {**OCR_ENV, "OCR_API_BASE_URL": url})


def test_template_ships_no_default_credentials() -> None:
    # GIVEN the credential parameters / WHEN / THEN neither defaults to a usable value, the secret is hidden
    parameters = template()["Parameters"]
    assert parameters["OcrClientSecret"]["Default"] == ""
    assert parameters["OcrClientSecret"]["NoEcho"] is True
    assert parameters["OcrClientId"]["Default"] == ""


def test_secret_json_is_serialised_by_cloudformation_not_substituted() -> None:
    # GIVEN the secret resource
    secret = properties("OcrApiCredentials")["SecretString"]

    # WHEN / THEN both branches build the JSON with Fn::ToJsonString (no Fn::Sub into a JSON string)
    assert "AWS::LanguageExtensions" in template()["Transform"]
    condition, given, placeholder = secret["Fn::If"]
    assert condition == "HasOcrClientSecret"
    assert given == {
        "Fn::ToJsonString": {"client_id": {"Ref": "OcrClientId"}, "client_secret": {"Ref": "OcrClientSecret"}}
    }
    assert placeholder == {"Fn::ToJsonString": {"client_id": {"Ref": "OcrClientId"}, "client_secret": ""}}
    assert "Fn::Sub" not in json.dumps(secret)


@pytest.mark.parametrize("client_secret", ['quote"inside', "back\\slash", 'both\\"\n'])
def test_secret_with_json_metacharacters_round_trips(client_secret: str, moto_aws: None) -> None:
    # GIVEN a client secret containing JSON metacharacters
    spec = plan(TEMPLATE, {"OcrClientId": "id-1", "OcrClientSecret": client_secret})

    # WHEN the template's secret is resolved (as the local stack creates it)
    (secret,) = spec.secrets

    # THEN the stored JSON parses back to the exact credentials
    assert json.loads(secret.properties["SecretString"]) == {
        "client_id": "id-1",
        "client_secret": client_secret,
    }


def test_stack_without_a_client_secret_stores_empty_credentials(moto_aws: None) -> None:
    # GIVEN / WHEN the template is resolved with its defaults
    (secret,) = plan(TEMPLATE).secrets

    # THEN the secret holds no usable credential for the operator to replace
    assert json.loads(secret.properties["SecretString"]) == {"client_id": "", "client_secret": ""}


def test_empty_client_secret_is_a_configuration_error_naming_the_fix(moto_aws: None) -> None:
    # GIVEN a secret created by a deploy without OcrClientSecret, the operator's id filled in
    client = boto3.client("secretsmanager")
    arn = client.create_secret(
        Name="ocr-api", SecretString=json.dumps({"client_id": "id", "client_secret": ""})
    )

    # WHEN / THEN the functions refuse it with the command that fixes it
    with pytest.raises(ConfigurationError, match="put-secret-value"):
        secret_credentials(str(arn["ARN"]), max_age=0)()


def test_s3_invoke_permission_names_the_bucket_and_the_account() -> None:
    # GIVEN the permission S3 invokes the upload function with, and the bucket's name
    permission = properties("OnUploadInvokePermission")
    bucket_name = properties("InputBucket")["BucketName"]["Fn::Sub"]

    # WHEN / THEN it is scoped to this bucket's ARN and this account
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{bucket_name}"}
    assert template()["Resources"]["InputBucket"]["DependsOn"] == "OnUploadInvokePermission"


def test_every_bucket_notification_targets_the_upload_function_under_the_input_prefix() -> None:
    # GIVEN the bucket's Lambda notifications
    configs = properties("InputBucket")["NotificationConfiguration"]["LambdaConfigurations"]

    # WHEN / THEN each one invokes OnUploadFunction for objects created under InputPrefix
    assert configs
    for config in configs:
        assert config["Function"] == {"Fn::GetAtt": ["OnUploadFunction", "Arn"]}
        assert config["Event"] == "s3:ObjectCreated:*"
        assert {"Name": "prefix", "Value": {"Ref": "InputPrefix"}} in config["Filter"]["S3Key"]["Rules"]
