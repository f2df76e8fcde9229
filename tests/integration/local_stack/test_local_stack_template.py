"""The template read and created through moto's CloudFormation: intrinsics, parameters, Globals, events →
notifications; fixture and real template."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from local_stack.cfn import TemplateError, load_yaml
from local_stack.resources import key_prefix, notifications
from local_stack.template import Environment, ParameterError, plan

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
PROJECT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
ENV = Environment(region="eu-west-1", stack_name="t")


@pytest.fixture(autouse=True)
def _moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`plan` creates the resources in this process's moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _function_environment(tmp_path: Path, variables: str, resources: str = "") -> dict[str, str]:
    """The resolved variables of a one-function template (a queue and a parameter P to refer to)."""
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(
        "Transform: AWS::Serverless-2016-10-31\nParameters:\n  P: {Type: String, Default: p}\n"
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: src\n      Handler: app.handler\n      Runtime: python3.11\n"
        f"      Environment:\n        Variables:\n          {variables}\n{resources}"
    )
    return plan(path, environment=ENV).function("F").environment


def test_load_yaml_short_tags_become_long_form() -> None:
    # GIVEN short-tag YAML
    text = "A: !Ref X\nB: !GetAtt F.Arn\nC: !Sub ['${a}', {a: 1}]\nD: !If [C, 1, 2]\n"

    # WHEN it is loaded
    data = load_yaml(text)

    # THEN every tag is in its long form
    assert data == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["F", "Arn"]},
        "C": {"Fn::Sub": ["${a}", {"a": 1}]},
        "D": {"Fn::If": ["C", 1, 2]},
    }


def test_plan_sub_with_attribute_and_literal_keeps_escaped_placeholder(tmp_path: Path) -> None:
    # GIVEN / WHEN a variable whose Sub mixes a parameter, an attribute and an escaped ${!literal}
    env = _function_environment(tmp_path, "V: !Sub '${P}/${Queue.Arn}/${!literal}'")

    # THEN the references are replaced and the literal is unescaped
    assert env["V"] == "p/arn:aws:sqs:eu-west-1:123456789012:t-Queue/${literal}"


@pytest.mark.parametrize("variable", ["V: !Ref Missing", "V: !Sub '${P}-${Missing}'"])
def test_plan_reference_to_an_unknown_name_raises_template_error(tmp_path: Path, variable: str) -> None:
    # GIVEN / WHEN / THEN a Ref or Sub naming nothing is refused, naming it
    with pytest.raises(TemplateError, match="Missing"):
        _function_environment(tmp_path, variable)


def test_plan_refuses_an_intrinsic_moto_leaves_unevaluated(tmp_path: Path) -> None:
    # GIVEN / WHEN / THEN an intrinsic moto's CloudFormation would pass through as data is refused by name
    with pytest.raises(TemplateError, match="F: Fn::Cidr is not supported"):
        _function_environment(tmp_path, "V: !Cidr ['10.0.0.0/16', 2, 8]")


def test_plan_select_and_split_are_evaluated(tmp_path: Path) -> None:
    # GIVEN / WHEN a variable selecting from a split parameter
    env = _function_environment(tmp_path, "V: !Select [1, !Split ['/', !Sub '${P}/q']]")

    # THEN moto's CloudFormation evaluated both
    assert env["V"] == "q"


def test_plan_reference_to_a_resource_moto_does_not_create_is_refused(tmp_path: Path) -> None:
    # GIVEN / WHEN / THEN a variable naming a resource type moto's CloudFormation does not create (it would
    # drop the variable) is refused, naming both
    with pytest.raises(TemplateError, match=r"F refers to Alarm \(AWS::CloudWatch::Alarm\)"):
        _function_environment(tmp_path, "V: !Ref Alarm", "  Alarm:\n    Type: AWS::CloudWatch::Alarm\n")


def test_plan_fixture_merges_globals_under_function_environment() -> None:
    # GIVEN the fixture template
    # WHEN it is planned with defaults
    spec = plan(FIXTURE, environment=ENV)

    # THEN Globals apply and the function's own variables win
    env = spec.function("StartFunction").environment
    assert (env["SHARED"], env["OVERRIDDEN"]) == ("from-globals", "from-function")
    assert spec.function("StartFunction").timeout == 10
    assert spec.function("StartFunction").memory_size == 256


def test_plan_fixture_resolves_refs_getatt_join_if() -> None:
    # GIVEN / WHEN the fixture planned with defaults
    env = plan(FIXTURE, environment=ENV).function("StartFunction").environment

    # THEN every intrinsic has its value and AWS::NoValue removed the optional variable
    assert env["STATE_MACHINE_ARN"] == "arn:aws:states:eu-west-1:123456789012:stateMachine:t-Workflow"
    assert env["QUEUE_URL"].endswith("/123456789012/t-Queue")
    assert env["QUEUE_ARN"] == "arn:aws:sqs:eu-west-1:123456789012:t-Queue"
    assert env["SECRET_ARN"].startswith("arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-Credentials-")
    assert (env["JOINED"], env["MODE_WORD"]) == ("drop-large", "quick")
    assert "OPTIONAL" not in env


def test_plan_override_changes_conditions_and_conditional_resources() -> None:
    # GIVEN an override that flips the IsSlow condition
    # WHEN the fixture is planned
    spec = plan(FIXTURE, {"Mode": "slow"}, environment=ENV)

    # THEN the If branches and the conditional queue follow
    env = spec.function("StartFunction").environment
    assert (env["MODE_WORD"], env["OPTIONAL"]) == ("careful", "present")
    assert "t-SlowOnlyQueue" in [q.name for q in spec.queues]


def test_plan_list_parameter_is_refused_by_name(tmp_path: Path) -> None:
    # GIVEN a template with a parameter type the local stack does not resolve
    path = tmp_path / "template.yaml"
    path.write_text("Parameters:\n  Sizes: {Type: CommaDelimitedList, Default: a}\nResources: {}\n")

    # WHEN / THEN planning refuses it, naming the parameter and its type
    with pytest.raises(TemplateError, match="Sizes: type CommaDelimitedList"):
        plan(path, environment=ENV)


def test_plan_property_the_local_stack_would_ignore_is_refused_by_name(tmp_path: Path) -> None:
    # GIVEN a table with a time-to-live setting (not emulated: items would never expire)
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
        "      KeySchema: [{AttributeName: id, KeyType: HASH}]\n"
        "      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]\n"
        "      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}\n"
    )

    # WHEN / THEN planning refuses it, naming the resource and the property
    with pytest.raises(TemplateError, match="T: TimeToLiveSpecification is not emulated"):
        plan(path, environment=ENV)


def test_plan_unknown_override_raises() -> None:
    # GIVEN / WHEN / THEN a misspelt parameter is refused
    with pytest.raises(TemplateError, match="Moed"):
        plan(FIXTURE, {"Moed": "slow"}, environment=ENV)


def test_plan_override_outside_allowed_values_raises_naming_the_allowed_values() -> None:
    # GIVEN / WHEN / THEN a value outside AllowedValues is refused, naming them
    with pytest.raises(ParameterError, match="Mode='medium' is not allowed; allowed values: fast, slow"):
        plan(FIXTURE, {"Mode": "medium"}, environment=ENV)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"MaxPolls": "0"}, "MaxPolls=0 is out of range; allowed values: 1 to 500"),
        ({"MaxPolls": "many"}, "MaxPolls='many' is not a number"),
        ({"InputPrefix": "/abs/"}, "InputPrefix='/abs/' does not match its AllowedPattern"),
    ],
)
def test_plan_project_template_override_breaking_a_constraint_raises(
    override: dict[str, str], message: str
) -> None:
    # GIVEN / WHEN / THEN the project template's MinValue, Number type and AllowedPattern are enforced
    with pytest.raises(ParameterError, match=message):
        plan(PROJECT_TEMPLATE, override, environment=ENV)


def test_plan_constraint_checks_can_be_turned_off() -> None:
    # GIVEN / WHEN a value below MinValue with the checks off
    spec = plan(PROJECT_TEMPLATE, {"MaxPolls": "0"}, environment=ENV, check_constraints=False)

    # THEN it is taken as given
    assert spec.parameters["MaxPolls"] == "0"


def test_plan_s3_event_becomes_bucket_notification_with_filter() -> None:
    # GIVEN / WHEN the fixture planned
    bucket = plan(FIXTURE, environment=ENV).resource("Bucket")

    # THEN the bucket carries the function's S3 event as a filtered Lambda notification
    assert bucket.name == "drop-123456789012-eu-west-1"
    assert notifications(bucket) == [
        {
            "LambdaFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:t-StartFunction",
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {
                "Key": {
                    "FilterRules": [
                        {"Name": "prefix", "Value": "incoming/"},
                        {"Name": "suffix", "Value": ".txt"},
                    ]
                }
            },
        }
    ]


def test_plan_state_machine_definition_is_substituted_as_text() -> None:
    # GIVEN the fixture whose ASL has an unquoted numeric placeholder
    # WHEN it is planned
    machine = plan(FIXTURE, {"WaitSeconds": "3"}, environment=ENV).state_machine("Workflow")

    # THEN the definition is JSON with the number and the function ARNs in place
    definition = json.loads(machine.definition)
    assert definition["States"]["Wait"]["Seconds"] == 3
    assert definition["States"]["Echo"]["Resource"].endswith(":function:t-EchoFunction")


def test_plan_secret_string_sub_with_map() -> None:
    # GIVEN / WHEN the fixture planned with another greeting
    (secret,) = plan(FIXTURE, {"Greeting": "hi"}, environment=ENV).secrets

    # THEN the two-argument Sub filled the secret
    assert json.loads(secret.properties["SecretString"]) == {"greeting": "hi"}


def test_plan_unsupported_resource_is_listed_as_ignored() -> None:
    # GIVEN / WHEN the fixture planned
    spec = plan(FIXTURE, environment=ENV)

    # THEN the log group (and the roles and permissions SAM generates) are not created but listed
    assert spec.ignored["Logs"] == "AWS::Logs::LogGroup"
    assert {"AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::Lambda::Permission"} <= set(spec.ignored.values())
    assert not {kind for kind in spec.ignored.values() if kind.startswith("AWS::Serverless::")}


@pytest.mark.skipif(not PROJECT_TEMPLATE.exists(), reason="template.yaml not present")
def test_plan_project_template_wires_upload_function_to_the_state_machine() -> None:
    # GIVEN the project's template with local overrides
    spec = plan(PROJECT_TEMPLATE, {"OcrApiBaseUrl": "http://127.0.0.1:9"}, environment=ENV)

    # THEN the upload function starts the state machine that the bucket notification leads to
    machine = spec.state_machines[0]
    (bucket,) = spec.buckets
    targets = {n["LambdaFunctionArn"] for n in notifications(bucket)}
    upload = next(f for f in spec.functions if f.arn in targets)
    assert upload.environment["STATE_MACHINE_ARN"] == machine.arn
    assert {key_prefix(n) for n in notifications(bucket)} == {spec.parameters["InputPrefix"]}


@pytest.mark.skipif(not PROJECT_TEMPLATE.exists(), reason="template.yaml not present")
def test_plan_project_template_every_task_resource_is_a_planned_function() -> None:
    # GIVEN the project's template
    spec = plan(PROJECT_TEMPLATE, environment=ENV)

    # WHEN the state machine's Task resources are collected
    states = json.loads(spec.state_machines[0].definition)["States"]
    resources = {
        s["Parameters"]["FunctionName"]
        if s["Resource"].startswith("arn:aws:states:::lambda:")
        else s["Resource"]
        for s in states.values()
        if s.get("Type") == "Task"
    }

    # THEN each one (or the function a Lambda service integration names) is a function the stack creates
    assert resources
    assert resources <= {f.arn for f in spec.functions}


@pytest.mark.skipif(not PROJECT_TEMPLATE.exists(), reason="template.yaml not present")
def test_plan_project_template_api_functions_get_the_overridden_base_url() -> None:
    # GIVEN / WHEN the project's template planned with a local OCR URL
    spec = plan(PROJECT_TEMPLATE, {"OcrApiBaseUrl": "http://127.0.0.1:9"}, environment=ENV)

    # THEN every function that reads the OCR URL gets the override
    urls = {f.environment["OCR_API_BASE_URL"] for f in spec.functions if "OCR_API_BASE_URL" in f.environment}
    assert urls == {"http://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("destinations", "message"),
    [
        ("OnSuccess: {Type: SQS, Destination: arn:aws:sqs:us-east-1:1:q}", "OnSuccess is not emulated"),
        ("OnFailure: {Type: SNS, Destination: arn:aws:sns:us-east-1:1:t}", "is not an SQS queue"),
    ],
)
def test_plan_destination_the_local_stack_does_not_deliver_is_refused(
    tmp_path: Path, destinations: str, message: str
) -> None:
    # GIVEN a function whose asynchronous invocations report to a destination other than an SQS queue
    # on failure
    (tmp_path / "src").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: src\n      Handler: app.handler\n      Runtime: python3.11\n"
        f"      EventInvokeConfig:\n        DestinationConfig:\n          {destinations}\n"
    )

    # WHEN / THEN planning refuses it, naming the function and the destination
    with pytest.raises(
        TemplateError, match=f"F: DestinationConfig.{message}" if "OnSuccess" in message else message
    ):
        plan(path, environment=ENV)


def test_plan_project_template_logs_no_warning_for_types_moto_does_not_create(
    caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    # GIVEN the project's template, whose alarms and policies moto's CloudFormation does not create
    # WHEN it is planned
    with caplog.at_level("WARNING"):
        spec = plan(PROJECT_TEMPLATE, environment=ENV)

    # THEN they are listed as ignored, with no warning logged or raised for them
    assert "AWS::CloudWatch::Alarm" in spec.ignored.values()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in recwarn if "moto" in str(w.message)]
