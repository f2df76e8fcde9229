"""Structure of the deployed state machine definition and of the template around it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import lint as infra_lint
import pytest

from ocr_pipeline import errors
from ocr_pipeline.settings import FailureSettings, OcrSettings, OnUploadSettings

LAMBDA_ERRORS = {"Lambda.ServiceException", "Lambda.TooManyRequestsException"}
TIMEOUT_ERRORS = {"Sandbox.Timedout", "States.Timeout"}
API_TRANSIENT = {"OcrApiThrottled", "OcrApiUnavailable"}
BAD_INPUT = {"InvalidImage", "ImageTooLarge", "UnsupportedImage"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return infra_lint.load_template()


@pytest.fixture(scope="module")
def asl(template: dict[str, Any]) -> dict[str, Any]:
    text = infra_lint.definition_path(template).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(infra_lint.fill_placeholders(text, infra_lint.placeholders(text)))
    return data


def _states(asl: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((name, s) for name, s in asl["States"].items() if s["Type"] == kind)


def _retried(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {error: retrier for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}


def test_asl_every_task_has_retry_and_catch_all(asl: dict[str, Any]) -> None:
    # GIVEN the deployed definition / WHEN its tasks are inspected / THEN each retries and catches everything
    for name, state in _states(asl, "Task"):
        assert state.get("Retry"), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
        assert isinstance(state.get("TimeoutSeconds"), int), name


def test_asl_every_task_retries_lambda_errors_with_jittered_backoff(asl: dict[str, Any]) -> None:
    # GIVEN each task / WHEN its retriers are read / THEN Lambda service errors back off with jitter
    for name, state in _states(asl, "Task"):
        retried = _retried(state)
        assert set(retried) >= LAMBDA_ERRORS, name
        retrier = retried["Lambda.TooManyRequestsException"]
        assert retrier["BackoffRate"] > 1 and retrier.get("JitterStrategy") == "FULL", name


def test_asl_timeouts_are_retried_at_most_once(asl: dict[str, Any]) -> None:
    # GIVEN each task / WHEN timeouts are looked up / THEN one retry at most (a timeout tends to repeat)
    for name, state in _states(asl, "Task"):
        retried = _retried(state)
        assert all(retried[error]["MaxAttempts"] <= 1 for error in TIMEOUT_ERRORS), name


def test_asl_api_tasks_retry_transient_api_errors_but_never_bad_input(asl: dict[str, Any]) -> None:
    # GIVEN the tasks that call the OCR API / WHEN their retriers are read
    for name in ("Submit OCR task", "Check OCR task"):
        retried = _retried(asl["States"][name])
        # THEN throttling/unavailability back off within a bound, and bad input is never retried
        assert set(retried) >= API_TRANSIENT, name
        assert all(retried[e]["MaxAttempts"] <= 5 and retried[e]["BackoffRate"] > 1 for e in API_TRANSIENT), (
            name
        )
        assert not BAD_INPUT & set(retried), name
        assert "States.ALL" not in retried, name


def test_asl_retried_error_names_are_real_exception_classes(asl: dict[str, Any]) -> None:
    # GIVEN the error names the definition matches / WHEN compared with the code / THEN each class exists
    names = {
        e
        for _, s in _states(asl, "Task")
        for e in _retried(s)
        if not e.startswith(("Lambda.", "States.", "Sandbox."))
    }
    assert names and all(isinstance(getattr(errors, n, None), type) for n in names), names


def test_asl_every_choice_has_default(asl: dict[str, Any]) -> None:
    # GIVEN / WHEN / THEN no Choice can fall through
    choices = list(_states(asl, "Choice"))
    assert choices and all("Default" in s for _, s in choices)


def test_asl_waits_use_seconds_path(asl: dict[str, Any]) -> None:
    # GIVEN / WHEN / THEN every wait comes from the state (local runs use short ones)
    waits = list(_states(asl, "Wait"))
    assert waits and all("SecondsPath" in s and "Seconds" not in s for _, s in waits)


def test_asl_catches_lead_to_failure_record_with_error_in_state(asl: dict[str, Any]) -> None:
    # GIVEN the submit and check tasks / WHEN they fail / THEN the error lands in $.error and is recorded
    for name in ("Submit OCR task", "Check OCR task"):
        [catch] = asl["States"][name]["Catch"]
        assert (catch["ResultPath"], catch["Next"]) == ("$.error", "Record failure")
    assert asl["States"]["Record failure"]["Next"] == "Failed"
    assert asl["States"]["Failed"]["Type"] == "Fail"


def test_asl_has_execution_timeout(asl: dict[str, Any]) -> None:
    # GIVEN / WHEN / THEN the whole execution is bounded
    assert isinstance(asl["TimeoutSeconds"], int) and asl["TimeoutSeconds"] > 0


def test_asl_placeholders_match_template_substitutions(template: dict[str, Any]) -> None:
    # GIVEN the ASL file and the template / WHEN both sets are compared / THEN they are equal
    text = infra_lint.definition_path(template).read_text(encoding="utf-8")
    subs = set(infra_lint.state_machine_properties(template)["DefinitionSubstitutions"])
    assert infra_lint.placeholders(text) == subs


def test_asl_happy_path_transitions_within_budget(asl: dict[str, Any]) -> None:
    # GIVEN each OCR job finishes by its first poll (endpoint mode: two jobs)
    states = asl["States"]
    path = [asl["StartAt"]]
    job_stage = "binarize"
    while states[path[-1]]["Type"] not in ("Succeed", "Fail"):
        state = states[path[-1]]
        if state["Type"] == "Choice":
            action = "done" if job_stage == "done" else "wait"
            nxt = next(c["Next"] for c in state["Choices"] if c.get("StringEquals") == action)
        else:
            nxt = state["Next"]
            if path[-1] == "Check OCR task":
                job_stage = "recognize" if job_stage == "binarize" else "done"
        path.append(nxt)
        assert len(path) < 30
    # WHEN the states entered are counted / THEN it stays within the budget of 12 transitions
    assert len(path) <= 12, path
    assert path[-1] == "Done"


def _function(template: dict[str, Any], handler_module: str) -> dict[str, Any]:
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if props.get("Handler") == f"ocr_pipeline.handlers.{handler_module}.handler":
            return dict(props)
    raise AssertionError(f"no function runs {handler_module}")


@pytest.mark.parametrize(
    ("module", "settings"),
    [
        ("on_upload", OnUploadSettings),
        ("submit", OcrSettings),
        ("check", OcrSettings),
        ("record_failure", FailureSettings),
    ],
)
def test_template_env_provides_every_settings_field(
    template: dict[str, Any], module: str, settings: type
) -> None:
    # GIVEN a function and its settings model / WHEN the template's env (with Globals) is collected
    env = set(template["Globals"]["Function"]["Environment"]["Variables"])
    env |= set(_function(template, module).get("Environment", {}).get("Variables", {}))
    # THEN every settings field is set by the template, under the same name
    assert set(settings.model_fields) <= env


@pytest.mark.parametrize(
    ("module", "state"),
    [("submit", "Submit OCR task"), ("check", "Check OCR task"), ("record_failure", "Record failure")],
)
def test_template_task_timeout_exceeds_function_timeout(
    template: dict[str, Any], asl: dict[str, Any], module: str, state: str
) -> None:
    # GIVEN a task and its function / WHEN timeouts are compared / THEN the Lambda times out first
    assert asl["States"][state]["TimeoutSeconds"] > int(_function(template, module)["Timeout"])


def test_template_policies_name_only_their_resources(template: dict[str, Any]) -> None:
    # GIVEN every function policy / WHEN statements are inspected / THEN no data action is granted on "*"
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                assert statement["Resource"] != "*", name
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all(not a.endswith(":*") for a in actions), name


def test_template_s3_events_cover_each_suffix_in_both_cases(template: dict[str, Any]) -> None:
    # GIVEN the bucket's notifications of the on-upload function / WHEN their suffix rules are collected
    notifications = template["Resources"]["InputBucket"]["Properties"]["NotificationConfiguration"]
    suffixes = {
        rule["Value"]
        for n in notifications["LambdaConfigurations"]
        for rule in n["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }
    default = template["Parameters"]["AllowedSuffixes"]["Default"].split(",")
    # THEN every allowed suffix is notified in lower and upper case
    assert suffixes == {f".{s}" for s in default} | {f".{s.upper()}" for s in default}
