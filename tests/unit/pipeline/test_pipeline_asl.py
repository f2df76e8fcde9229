"""Structure of the deployed state machine definition and of the template around it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import lint as infra_lint
import pytest

from ocr_pipeline import errors
from ocr_pipeline.domain.models import Stage, StageStatus
from ocr_pipeline.settings import AdmissionSettings, FailureSettings, OcrSettings, OnUploadSettings

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


def _api_tasks(asl: dict[str, Any]) -> list[str]:
    return [n for n, s in _states(asl, "Task") if n.startswith(("Submit ", "Check "))]


def test_asl_api_tasks_retry_transient_api_errors_but_never_bad_input(asl: dict[str, Any]) -> None:
    # GIVEN the tasks that call the OCR API / WHEN their retriers are read
    names = _api_tasks(asl)
    assert len(names) >= 4, names
    for name in names:
        retried = _retried(asl["States"][name])
        # THEN throttling/unavailability have a budget that outlasts a 15 % fault rate, bounded,
        # and bad input or a submission in doubt is never retried
        assert set(retried) >= API_TRANSIENT, name
        assert all(
            5 <= retried[e]["MaxAttempts"] <= 10 and retried[e]["BackoffRate"] > 1 for e in API_TRANSIENT
        )
        assert all(retried[e].get("MaxDelaySeconds", 0) <= 120 for e in API_TRANSIENT), name
        assert not (BAD_INPUT | {"SubmissionInDoubt", "OcrTaskFailed"}) & set(retried), name
        assert "States.ALL" not in retried, name


def test_asl_submit_tasks_retry_a_submission_in_progress(asl: dict[str, Any]) -> None:
    # GIVEN the submitting tasks / WHEN retriers are read / THEN a concurrent claim is waited out
    for name in (n for n in _api_tasks(asl) if n.startswith("Submit ")):
        assert "SubmissionInProgress" in _retried(asl["States"][name]), name


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


def test_asl_catches_name_their_stage_and_lead_to_failure_record(asl: dict[str, Any]) -> None:
    # GIVEN every task but the recorder and the slot release / WHEN it fails
    states = asl["States"]
    for name, state in _states(asl, "Task"):
        if name in ("Record failure", "Release slot"):
            continue
        [catch] = state["Catch"]
        # THEN the error lands in $.error and a Pass state names the stage before the record is written
        assert catch["ResultPath"] == "$.error", name
        named = states[catch["Next"]]
        assert (named["Type"], named["ResultPath"], named["Next"]) == (
            "Pass",
            "$.failed_stage",
            "Record failure",
        )
        assert named["Result"] in {"admission", "check_image", *(s.value for s in Stage)}, name
    assert states["Record failure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_asl_a_failed_slot_release_still_ends_in_done(asl: dict[str, Any]) -> None:
    # GIVEN the last state before Done gives the slot back (the text is written by then)
    release = asl["States"]["Release slot"]
    # WHEN it fails / THEN the execution still succeeds (the reconciler frees a slot left behind)
    [catch] = release["Catch"]
    assert (catch["ErrorEquals"], catch["Next"], release["Next"]) == (["States.ALL"], "Done", "Done")
    assert asl["StartAt"] == "Acquire slot"
    assert asl["States"]["Acquire slot"]["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"


def test_asl_each_stage_has_visible_submit_wait_check_and_choice(asl: dict[str, Any]) -> None:
    # GIVEN the definition / WHEN the states of each default stage are looked up / THEN they are there
    states = asl["States"]
    for noun, title in (("binarization", "Binarization"), ("recognition", "Recognition")):
        assert states[f"Submit {noun}"]["Type"] == "Task"
        assert states[f"Wait for {noun}"]["Next"] == f"Check {noun}"
        assert states[f"Check {noun}"]["Next"] == f"{title} done?"
        assert states[f"{title} done?"]["Type"] == "Choice"
    assert states["Submit recognition"]["Resource"] != states["Submit binarization"]["Resource"]


def test_asl_choice_values_are_the_job_model_values(asl: dict[str, Any]) -> None:
    # GIVEN every Choice rule / WHEN the values compared with $.job.status and $.job.next are collected
    values: dict[str, set[str]] = {"$.job.status": set(), "$.job.next": set()}

    def collect(rule: dict[str, Any]) -> None:
        for inner in rule.get("And", []):
            collect(inner)
        if rule.get("Variable") in values:
            values[rule["Variable"]].add(rule["StringEquals"])

    for _, state in _states(asl, "Choice"):
        for rule in state["Choices"]:
            collect(rule)
    # THEN they are exactly what the models can hold
    assert values["$.job.status"] == {s.value for s in StageStatus}
    assert values["$.job.next"] <= {s.value for s in Stage}


def test_asl_definition_is_valid_json_except_the_execution_timeout(template: dict[str, Any]) -> None:
    # GIVEN the file / WHEN the one numeric placeholder is filled / THEN it parses, and no other is unquoted
    text = infra_lint.definition_path(template).read_text(encoding="utf-8")
    json.loads(text.replace("${ExecutionTimeoutSeconds}", "1800"))


def test_asl_has_execution_timeout(asl: dict[str, Any]) -> None:
    # GIVEN / WHEN / THEN the whole execution is bounded
    assert isinstance(asl["TimeoutSeconds"], int) and asl["TimeoutSeconds"] > 0


def test_asl_placeholders_match_template_substitutions(template: dict[str, Any]) -> None:
    # GIVEN the ASL file and the template / WHEN both sets are compared / THEN they are equal
    text = infra_lint.definition_path(template).read_text(encoding="utf-8")
    subs = set(infra_lint.state_machine_properties(template)["DefinitionSubstitutions"])
    assert infra_lint.placeholders(text) == subs


def _path(asl: dict[str, Any], *, loop_polls: int) -> list[str]:
    """States entered for an endpoint-mode image whose tasks each complete after ``loop_polls`` checks
    (0: at the in-Lambda check right after submitting)."""
    states = asl["States"]
    path = [asl["StartAt"]]
    job = {"status": "completed", "next": "binarize"}
    checks = 0
    while states[path[-1]]["Type"] not in ("Succeed", "Fail"):
        name, state = path[-1], states[path[-1]]
        if state["Type"] == "Choice":
            nxt = state["Default"]
            for rule in state["Choices"]:
                conditions = rule.get("And", [rule])
                if all(job[c["Variable"].removeprefix("$.job.")] == c["StringEquals"] for c in conditions):
                    nxt = rule["Next"]
                    break
        else:
            nxt = state["Next"]
            stage = state.get("Parameters", {}).get("stage")
            if name.startswith("Submit "):
                checks = 0
                job = {"status": "pending" if loop_polls else "completed", "next": "recognize"}
            elif name.startswith("Check "):
                checks += 1
                job = {**job, "status": "completed" if checks >= loop_polls else "pending"}
            if stage == "recognize" and job["status"] == "completed":
                job["next"] = "done"
        path.append(nxt)
        assert len(path) < 60
    return path


# Acquire slot and Release slot add two to the stages' 7 (13 with one Wait-loop check per stage); waiting
# for a slot costs none: the execution waits on its task token.
@pytest.mark.parametrize(("loop_polls", "budget"), [(0, 9), (1, 15)])
def test_asl_happy_path_transitions_within_budget(asl: dict[str, Any], loop_polls: int, budget: int) -> None:
    # GIVEN each task completes at its first result request (in-Lambda, or the Wait loop's first check)
    path = _path(asl, loop_polls=loop_polls)
    # WHEN the states entered are counted / THEN it ends in Done within the budget
    assert path[-1] == "Done", path
    assert len(path) <= budget, path


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
        ("preprocess", OcrSettings),
        ("recognize", OcrSettings),
        ("record_failure", FailureSettings),
        ("record_failure", AdmissionSettings),
        ("admission", AdmissionSettings),
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
    [
        ("preprocess", "Validate image"),
        ("preprocess", "Submit binarization"),
        ("preprocess", "Check binarization"),
        ("recognize", "Submit recognition"),
        ("recognize", "Check recognition"),
        ("record_failure", "Record failure"),
        ("admission", "Release slot"),
    ],
)
def test_template_task_timeout_exceeds_function_timeout(
    template: dict[str, Any], asl: dict[str, Any], module: str, state: str
) -> None:
    # GIVEN a task and its function / WHEN timeouts are compared / THEN the Lambda times out first
    assert asl["States"][state]["TimeoutSeconds"] > int(_function(template, module)["Timeout"])


def test_template_policies_name_only_their_resources(template: dict[str, Any]) -> None:
    # GIVEN every function policy / WHEN statements are inspected / THEN no data action is granted on "*"
    # (answering a task token is the exception: a token names no resource)
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                if statement["Action"] != "states:SendTaskSuccess":
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
