"""Alarms reach someone: the topic's key lets CloudWatch publish, failure events are never dropped."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.unit.template.template_support import ROOT, properties, refers_to, resource, resources_of_type

API_FUNCTIONS = ("PreprocessFunction", "RecognizeFunction")


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_alarm_topic_is_encrypted_with_a_customer_managed_key_that_rotates() -> None:
    # GIVEN the alarm topic
    topic = properties("AlarmTopic")

    # WHEN / THEN its key is the stack's own key (not alias/aws/sns), with rotation on
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}
    assert resource("AlarmTopicKey")["Type"] == "AWS::KMS::Key"
    assert properties("AlarmTopicKey")["EnableKeyRotation"] is True


def test_alarm_topic_key_policy_grants_cloudwatch_data_keys_for_this_account_only() -> None:
    # GIVEN the key policy of the topic's key
    statements = _statements(properties("AlarmTopicKey")["KeyPolicy"])

    # WHEN the statements naming CloudWatch are picked
    cloudwatch = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and "cloudwatch.amazonaws.com" in _as_list(s["Principal"].get("Service", []))
    ]

    # THEN one grants GenerateDataKey* and Decrypt, conditioned on this account as the source
    assert len(cloudwatch) == 1
    (grant,) = cloudwatch
    assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(_as_list(grant["Action"]))
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_alarm_topic_key_policy_keeps_the_account_as_administrator() -> None:
    # GIVEN the key policy
    statements = _statements(properties("AlarmTopicKey")["KeyPolicy"])

    # WHEN / THEN the account root may administer it (else the key becomes unmanageable)
    roots = [s for s in statements if "AWS" in s["Principal"] and s["Action"] == "kms:*"]
    assert len(roots) == 1
    assert ":root" in roots[0]["Principal"]["AWS"]["Fn::Sub"]


def test_every_alarm_notifies_the_alarm_topic() -> None:
    # GIVEN every alarm of the template
    alarms = resources_of_type("AWS::CloudWatch::Alarm")

    # WHEN / THEN each one publishes to the topic
    assert alarms
    for logical_id, body in alarms.items():
        assert body["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id


def test_record_failure_rule_target_has_a_dead_letter_queue_and_a_bounded_retry_policy() -> None:
    # GIVEN the EventBridge rule that sends timed-out and aborted executions to RecordFailure
    events = properties("RecordFailureFunction")["Events"]
    (rule,) = [e["Properties"] for e in events.values() if e["Type"] == "EventBridgeRule"]

    # WHEN / THEN undeliverable events go to the DLQ after a bounded number of retries
    assert rule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RecordFailureDeadLetterQueue", "Arn"]}
    assert 0 < rule["RetryPolicy"]["MaximumRetryAttempts"] <= 185
    assert 0 < rule["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400


def test_record_failure_async_invocations_end_in_the_dead_letter_queue() -> None:
    # GIVEN RecordFailure's asynchronous invocation settings
    config = properties("RecordFailureFunction")["EventInvokeConfig"]

    # WHEN / THEN failed invocations are retried, then sent to the same queue
    assert config["MaximumRetryAttempts"] == 2
    on_failure = config["DestinationConfig"]["OnFailure"]
    queue_arn = {"Fn::GetAtt": ["RecordFailureDeadLetterQueue", "Arn"]}
    assert on_failure == {"Type": "SQS", "Destination": queue_arn}


def test_record_failure_dlq_policy_admits_only_the_rule_of_this_stack() -> None:
    # GIVEN the queue policy of RecordFailure's DLQ and the rule's name
    policy = properties("RecordFailureDeadLetterQueuePolicy")
    (statement,) = _statements(policy["PolicyDocument"])
    events = properties("RecordFailureFunction")["Events"]
    (rule,) = [e["Properties"] for e in events.values() if e["Type"] == "EventBridgeRule"]

    # WHEN / THEN EventBridge may send to it, only from that rule's ARN
    assert policy["Queues"] == [{"Ref": "RecordFailureDeadLetterQueue"}]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert source_arn.endswith(":rule/" + rule["RuleName"]["Fn::Sub"])


def _alarm_on(namespace: str, metric: str, dimension_target: str) -> list[dict[str, Any]]:
    found = []
    for body in resources_of_type("AWS::CloudWatch::Alarm").values():
        props = body["Properties"]
        if (
            props.get("Namespace") == namespace
            and props.get("MetricName") == metric
            and refers_to(props.get("Dimensions"), dimension_target)
        ):
            found.append(props)
    return found


def test_throttles_of_every_api_calling_function_are_alarmed() -> None:
    # GIVEN / WHEN / THEN each function with reserved concurrency has a throttles alarm
    for function in API_FUNCTIONS:
        assert "ReservedConcurrentExecutions" in properties(function)
        assert len(_alarm_on("AWS/Lambda", "Throttles", function)) == 1, function


def test_aborted_executions_and_both_dead_letter_queues_are_alarmed() -> None:
    # GIVEN / WHEN / THEN
    assert len(_alarm_on("AWS/States", "ExecutionsAborted", "OcrStateMachine")) == 1
    for queue in ("OnUploadDeadLetterQueue", "RecordFailureDeadLetterQueue"):
        assert len(_alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue)) == 1, queue


def _dashboard_metrics() -> list[list[Any]]:
    body = properties("PipelineDashboard")["DashboardBody"]["Fn::Sub"][0]
    dashboard = json.loads(body)
    return [metric for widget in dashboard["widgets"] for metric in widget["properties"]["metrics"]]


def test_dashboard_body_is_valid_json_over_the_functions_own_metrics() -> None:
    # GIVEN the metric names the handlers emit (Powertools add_metric calls)
    handlers = (ROOT / "functions" / "ocr_pipeline" / "handlers").glob("*.py")
    call = re.compile(r"add_metric\(\s*name=(?P<name>[^,]+),")
    emitted = {
        name
        for path in handlers
        for match in call.finditer(path.read_text())
        for name in re.findall(r'"([A-Za-z]+)"', match["name"])
    }

    # WHEN the dashboard's OcrPipeline metrics are read ("." repeats the row above)
    shown: set[str] = set()
    namespace = ""
    for metric in _dashboard_metrics():
        namespace = namespace if metric[0] == "." else metric[0]
        if namespace == "OcrPipeline":
            shown.add(metric[1])

    # THEN every emitted metric is on the dashboard
    assert emitted
    assert emitted <= shown, f"not on the dashboard: {sorted(emitted - shown)}"
