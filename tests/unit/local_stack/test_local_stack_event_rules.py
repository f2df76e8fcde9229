"""Event rules read from a template (SAM function events translated to AWS::Events::Rule), checked at plan."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from local_stack.cfn import TemplateError
from local_stack.event_rules import EventRuleSpec, Scheduler, ScheduleSpec
from local_stack.resources import StackSpec
from local_stack.template import Environment, plan

PROJECT_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
ENV = Environment(region="eu-west-1", stack_name="t")
HEADER = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Succeed}}}
  Topic:
    Type: AWS::SNS::Topic
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.11
      CodeUri: .
"""
STATUS_EVENT = {
    "source": "aws.states",
    "detail-type": "Step Functions Execution Status Change",
    "detail": {
        "status": "ABORTED",
        "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:t-Machine",
    },
}


@pytest.fixture(autouse=True)
def _moto(moto_aws: None) -> None:
    """`plan` creates the resources in this process's moto."""


def _plan(tmp_path: Path, body: str) -> StackSpec:
    path = tmp_path / "template.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return plan(path, environment=ENV)


def _rules(tmp_path: Path, body: str) -> tuple[EventRuleSpec, ...]:
    return _plan(tmp_path, body).rules


def test_sam_eventbridge_event_becomes_rule_targeting_its_function(tmp_path: Path) -> None:
    # GIVEN a function event of Type EventBridgeRule whose pattern refers to the state machine
    body = """      Events:
        Done:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail: {status: [ABORTED], stateMachineArn: [!Ref Machine]}
"""
    # WHEN the template is planned
    (rule,) = _rules(tmp_path, body)

    # THEN the rule is the one SAM generates, targets the function and has the resolved pattern
    assert rule.logical_id == "RecorderDone"
    assert rule.targets == ("arn:aws:lambda:eu-west-1:123456789012:function:t-Recorder",)
    assert rule.pattern.matches(STATUS_EVENT)


def test_disabled_rule_is_not_run(tmp_path: Path) -> None:
    # GIVEN a function event of the older Type CloudWatchEvent, disabled
    body = """      Events:
        Old:
          Type: CloudWatchEvent
          Properties:
            Pattern: {source: [aws.states]}
            State: DISABLED
"""
    # WHEN / THEN planning leaves it out
    assert _rules(tmp_path, body) == ()


def test_events_rule_targets_its_function_and_is_not_ignored(tmp_path: Path) -> None:
    # GIVEN an AWS::Events::Rule with a function target
    body = """
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [aws.states]}
      Targets:
        - {Id: f, Arn: !GetAtt Recorder.Arn}
"""
    # WHEN the template is planned
    spec = _plan(tmp_path, body)

    # THEN the rule targets the function and is not listed as ignored
    (rule,) = spec.rules
    assert rule.logical_id == "Rule"
    assert [t.rpartition(":")[2] for t in rule.targets] == ["t-Recorder"]
    assert "Rule" not in spec.ignored


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("EventPattern: {source: [aws.states]}\n      Targets: [{Id: t, Arn: !Ref Topic}]", "not a function"),
        (
            "EventPattern: {source: [aws.states]}\n      EventBusName: other\n"
            "      Targets: [{Id: f, Arn: !GetAtt Recorder.Arn}]",
            "Event bus other does not exist",
        ),
    ],
)
def test_events_rule_not_emulated_fails_plan(tmp_path: Path, declaration: str, message: str) -> None:
    # GIVEN a rule targeting a topic, or on another bus than the default one (not emulated)
    body = f"""
  Rule:
    Type: AWS::Events::Rule
    Properties:
      {declaration}
"""
    # WHEN / THEN planning fails naming the rule (or the bus, which moto's CloudFormation refuses first)
    with pytest.raises(TemplateError, match=f"(Rule: |cannot be created: ).*{message}"):
        _plan(tmp_path, body)


def test_events_rule_without_pattern_is_no_pattern_rule(tmp_path: Path) -> None:
    # GIVEN a schedule-only rule
    body = """
  Schedule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 minute)
      Targets: [{Id: f, Arn: !GetAtt Recorder.Arn}]
"""
    # WHEN / THEN it does not become a pattern rule
    assert _rules(tmp_path, body) == ()


def test_events_rule_unsupported_operator_fails_plan(tmp_path: Path) -> None:
    # GIVEN a pattern using an operator the local matcher does not implement
    body = """
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {detail: {name: [{starts-with: "scan-"}]}}
      Targets: [{Id: f, Arn: !GetAtt Recorder.Arn}]
"""
    # WHEN / THEN planning fails naming the rule and the operator
    with pytest.raises(TemplateError, match=r"Rule: .*starts-with"):
        _plan(tmp_path, body)


@pytest.mark.parametrize("reshaping", ["InputPath: $.detail", 'Input: "{}"'])
def test_target_reshaping_the_event_fails_plan(tmp_path: Path, reshaping: str) -> None:
    # GIVEN a target that would receive something else than the event (not emulated)
    body = f"""
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {{source: [aws.states]}}
      Targets: [{{Id: f, Arn: !GetAtt Recorder.Arn, {reshaping}}}]
"""
    # WHEN / THEN planning fails naming it
    with pytest.raises(TemplateError, match=reshaping.split(":")[0]):
        _plan(tmp_path, body)


def test_project_template_routes_timed_out_and_aborted_executions_to_a_function() -> None:
    # GIVEN the project's template
    # WHEN it is planned
    spec = plan(PROJECT_TEMPLATE, environment=ENV)

    # THEN some rule sends TIMED_OUT and ABORTED events of its state machine to one of its functions,
    # and none sends FAILED (the Catch already records those)
    machine = spec.state_machines[0].arn
    functions = {f.arn for f in spec.functions}

    def targets(status: str) -> set[str]:
        event = {**STATUS_EVENT, "detail": {"status": status, "stateMachineArn": machine}}
        return {t for r in spec.rules if r.pattern.matches(event) for t in r.targets}

    assert targets("TIMED_OUT") and targets("TIMED_OUT") <= functions
    assert targets("ABORTED") == targets("TIMED_OUT")
    assert targets("FAILED") == set()


def test_sam_schedule_event_with_rate_becomes_schedule_and_cron_is_not_run(tmp_path: Path) -> None:
    # GIVEN two SAM Schedule events: a rate with a constant input, and a cron expression
    body = """      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Input: '{"reconcile": true}'
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
"""
    # WHEN the template is planned
    spec = _plan(tmp_path, body)

    # THEN only the rate schedule is kept, every 300 s, targeting the function with its input
    (schedule,) = spec.schedules
    assert (schedule.logical_id, schedule.seconds) == ("RecorderEvery", 300)
    assert schedule.targets == (
        ("arn:aws:lambda:eu-west-1:123456789012:function:t-Recorder", '{"reconcile": true}'),
    )
    assert spec.rules == ()


def test_scheduler_fires_each_period_with_scheduled_event_until_stopped() -> None:
    # GIVEN a schedule every 0.05 s with one target taking the scheduled event
    fired: list[tuple[str, Any]] = []
    schedule = ScheduleSpec("Tick", 0.05, "arn:aws:events:r:1:rule/Tick", (("fn", None),))
    scheduler = Scheduler([schedule], lambda arn, event: fired.append((arn, event)), "1", "r")

    # WHEN it runs for a few periods, then stops
    scheduler.start()
    deadline = time.monotonic() + 5
    while len(fired) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    count = len(fired)
    time.sleep(0.15)

    # THEN the target got EventBridge's Scheduled Event, and nothing after stop
    assert count >= 3
    arn, event = fired[0]
    assert arn == "fn"
    assert (event["detail-type"], event["source"], event["resources"]) == (
        "Scheduled Event",
        "aws.events",
        ["arn:aws:events:r:1:rule/Tick"],
    )
    assert len(fired) == count
