"""The in-process Lambda runner: results, error mapping, environment isolation, and the hook-point check."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from local_stack.lambda_hook import HookError, InProcessRunner, as_aws_s3_event, check_hook_point

HANDLERS = Path(__file__).parent / "fixtures" / "handlers"


def _function(handler: str, env: dict[str, str] | None = None, timeout: int = 10) -> SimpleNamespace:
    """The attributes of moto's LambdaFunction that the runner reads."""
    name = f"fn-{handler.replace('.', '-')}-{len(env or {})}"
    return SimpleNamespace(
        function_name=name,
        handler=handler,
        environment_vars=env or {},
        timeout=timeout,
        memory_size=256,
        version="$LATEST",
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        region="us-east-1",
    )


@pytest.fixture
def runner() -> Iterator[InProcessRunner]:
    sys.modules.pop("fixture_handlers", None)
    runner = InProcessRunner(base_environment={"BASE_ONLY": "base"})
    runner.add_code_path(HANDLERS)
    yield runner
    runner.close()


def test_invoke_handler_result_is_json_payload_not_errored(runner: InProcessRunner) -> None:
    # GIVEN the echo handler
    function = _function("fixture_handlers.echo", {"ECHO_TAG": "t1"})

    # WHEN it is invoked with a JSON event string, as moto passes it
    payload, errored, _ = runner.invoke(function, json.dumps({"a": 1}))

    # THEN the payload is its JSON result with the function's context and env
    result = json.loads(payload)
    assert errored is False
    assert result["event"] == {"a": 1}
    assert (result["tag"], result["function"], result["memory"]) == ("t1", function.function_name, 256)
    assert result["remaining_positive"] is True


def test_invoke_exception_maps_to_lambda_error_payload(runner: InProcessRunner) -> None:
    # GIVEN a handler that raises FixtureError
    # WHEN it is invoked
    payload, errored, _ = runner.invoke(_function("fixture_handlers.fail"), {})

    # THEN the result is Lambda's error shape, named after the exception, flagged as errored
    error = json.loads(payload)
    assert errored is True
    assert (error["errorType"], error["errorMessage"]) == ("FixtureError", "failing on purpose")
    assert any("fixture_handlers.py" in line for line in error["stackTrace"])


def test_invoke_sets_function_env_and_restores_previous_values(
    runner: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a variable the host already has
    monkeypatch.setenv("ECHO_TAG", "host-value")

    # WHEN a function with its own ECHO_TAG runs
    payload, _, _ = runner.invoke(_function("fixture_handlers.echo", {"ECHO_TAG": "fn-value"}), {})

    # THEN the handler saw its own value, and the host's is back afterwards
    assert json.loads(payload)["tag"] == "fn-value"
    assert os.environ["ECHO_TAG"] == "host-value"


def test_invoke_keeps_introduced_variables_until_close(
    runner: InProcessRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a variable the host does not have
    monkeypatch.delenv("BASE_ONLY", raising=False)

    # WHEN a function runs (its base environment introduces BASE_ONLY)
    runner.invoke(_function("fixture_handlers.echo"), {})

    # THEN the variable stays while other threads may copy the environment, and goes on close
    assert os.environ.get("BASE_ONLY") == "base"
    runner.close()
    assert "BASE_ONLY" not in os.environ


def test_invoke_imports_handler_module_under_its_function_env(runner: InProcessRunner) -> None:
    # GIVEN a fresh import of the handler module
    # WHEN the first invocation runs with SHARED set by the function
    payload, _, _ = runner.invoke(_function("fixture_handlers.echo", {"SHARED": "first-env"}), {})

    # THEN module-level settings were read with that function's environment
    assert json.loads(payload)["import_env"]["SHARED"] == "first-env"


def test_invoke_missing_handler_is_an_errored_invocation(runner: InProcessRunner) -> None:
    # GIVEN a Handler naming a module that does not exist
    # WHEN it is invoked
    payload, errored, _ = runner.invoke(_function("no_such_module.handler"), {})

    # THEN the invocation fails with a named error instead of raising into moto
    assert errored is True
    assert json.loads(payload)["errorType"] == "HandlerImportError"


def test_invoke_errored_invocation_is_logged(
    runner: InProcessRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a failing handler (S3 → Lambda in moto swallows errors, so the log is the only trace)
    # WHEN it is invoked
    with caplog.at_level("ERROR", logger="local_stack.lambda_hook"):
        runner.invoke(_function("fixture_handlers.fail"), {})

    # THEN an error record names the function and the error type
    assert any(
        "FixtureError" in r.getMessage() and "fixture_handlers-fail" in r.getMessage() for r in caplog.records
    )


def test_invoke_result_over_timeout_becomes_sandbox_timedout(runner: InProcessRunner) -> None:
    # GIVEN a function whose timeout is already exhausted when it returns
    # WHEN it is invoked
    payload, errored, _ = runner.invoke(_function("fixture_handlers.echo", timeout=0), {})

    # THEN the result is discarded as Lambda would, with Sandbox.Timedout
    assert errored is True
    assert json.loads(payload)["errorType"] == "Sandbox.Timedout"


def test_invocations_are_recorded(runner: InProcessRunner) -> None:
    # GIVEN two invocations, one failing
    runner.invoke(_function("fixture_handlers.echo"), {})
    runner.invoke(_function("fixture_handlers.fail"), {})

    # THEN both are in the records with their outcome
    assert [(r.errored, r.error_type) for r in runner.records] == [(False, None), (True, "FixtureError")]


def test_as_aws_s3_event_keeps_slashes_and_plus_encodes_spaces() -> None:
    # GIVEN a moto-style S3 record (slash encoded as %2F)
    event: dict[str, Any] = {
        "Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "incoming%2Fa+b%2Bc.jpg"}}}]
    }

    # WHEN it is normalised
    key = as_aws_s3_event(event)["Records"][0]["s3"]["object"]["key"]

    # THEN it reads as S3 sends it
    assert key == "incoming/a+b%2Bc.jpg"


def test_check_hook_point_missing_method_fails_loudly_naming_pinned_version() -> None:
    # GIVEN a class without _invoke_lambda (as if moto had moved it)
    class Moved:
        pass

    # WHEN / THEN the check refuses, naming the pinned moto version
    with pytest.raises(HookError, match=r"moto==5\.2\.5"):
        check_hook_point(Moved)


def test_check_hook_point_changed_signature_fails_loudly() -> None:
    # GIVEN a class whose _invoke_lambda takes other arguments
    class Changed:
        def _invoke_lambda(self, payload: str, extra: int) -> None:
            pass

    # WHEN / THEN the check refuses
    with pytest.raises(HookError, match="signature"):
        check_hook_point(Changed)


def test_check_hook_point_installed_moto_passes() -> None:
    # GIVEN the pinned moto
    # WHEN / THEN the real hook point is accepted
    check_hook_point()
