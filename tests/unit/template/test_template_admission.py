"""Admission control in the template: the slot table, the function, its schedule, its alarm."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.template.template_support import ROOT, properties, resource


def _asl() -> dict[str, Any]:
    text = (ROOT / "infra" / "ocr_pipeline.asl.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text.replace("${ExecutionTimeoutSeconds}", "1"))
    return loaded


def test_admission_table_is_on_demand_with_the_keys_the_adapter_uses() -> None:
    # GIVEN the slot table / WHEN its keys are read / THEN pk + sk strings, billed per request
    table = properties("AdmissionTable")
    assert resource("AdmissionTable")["Type"] == "AWS::DynamoDB::Table"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]


def test_admission_function_knows_the_table_and_the_slot_count_and_runs_on_a_schedule() -> None:
    # GIVEN the admission function
    function = properties("AdmissionFunction")

    # WHEN its environment and events are read
    env = function["Environment"]["Variables"]
    [event] = function["Events"].values()

    # THEN it uses ApiConcurrency slots of the stack's table and reconciles every 5 minutes
    assert env == {"ADMISSION_TABLE": {"Ref": "AdmissionTable"}, "API_CONCURRENCY": {"Ref": "ApiConcurrency"}}
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == "rate(5 minutes)"
    assert json.loads(event["Properties"]["Input"]) == {"action": "reconcile"}
    assert "ReservedConcurrentExecutions" not in function, "admission must not be throttled by the API cap"


def test_failure_recorder_can_give_slots_back() -> None:
    # GIVEN the failure recorder / WHEN its environment is read / THEN it names the same table and limit
    env = properties("RecordFailureFunction")["Environment"]["Variables"]
    assert env == properties("AdmissionFunction")["Environment"]["Variables"]


def test_state_machine_acquires_first_and_may_invoke_the_admission_function() -> None:
    # GIVEN the state machine resource and its definition
    machine = properties("OcrStateMachine")
    asl = _asl()

    # WHEN / THEN the first state waits on a task token of the admission function, which it may invoke
    assert asl["StartAt"] == "Acquire slot"
    acquire = asl["States"]["Acquire slot"]
    assert acquire["Parameters"]["FunctionName"] == "${AdmissionFunctionArn}"
    assert acquire["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert machine["DefinitionSubstitutions"]["AdmissionFunctionArn"] == {
        "Fn::GetAtt": ["AdmissionFunction", "Arn"]
    }
    invokable = [
        p["LambdaInvokePolicy"]["FunctionName"] for p in machine["Policies"] if "LambdaInvokePolicy" in p
    ]
    assert {"Ref": "AdmissionFunction"} in invokable


def test_queue_age_alarm_watches_the_reconcilers_metric_and_treats_silence_as_breaching() -> None:
    # GIVEN the admission queue alarm / WHEN read / THEN oldest wait vs the parameter; no data alarms too
    alarm = properties("AdmissionQueueAgeAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("OcrPipeline", "OldestWaitSeconds")
    assert alarm["Threshold"] == {"Ref": "AdmissionQueueAgeAlarmSeconds"}
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
