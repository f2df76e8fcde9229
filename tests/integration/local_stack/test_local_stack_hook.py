"""The moto hook points: checked before they are replaced, and S3 keys encoded as S3 encodes them."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.lambda_hook import HookError, as_aws_s3_event, check_hook_points


def test_as_aws_s3_event_keeps_slashes_and_plus_encodes_spaces() -> None:
    # GIVEN a moto-style S3 record (slash encoded as %2F)
    event: dict[str, Any] = {
        "Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "incoming%2Fa+b%2Bc.jpg"}}}]
    }

    # WHEN it is normalised
    key = as_aws_s3_event(event)["Records"][0]["s3"]["object"]["key"]

    # THEN it reads as S3 sends it
    assert key == "incoming/a+b%2Bc.jpg"


def test_check_hook_points_missing_method_fails_loudly_naming_pinned_version() -> None:
    # GIVEN a class without the method (as if moto had moved it)
    class Moved:
        pass

    # WHEN / THEN the check refuses, naming the pinned moto version
    with pytest.raises(HookError, match=r"moto==5\.2\.5"):
        check_hook_points([(Moved, "invoke", ["self", "body"])])


def test_check_hook_points_changed_signature_fails_loudly() -> None:
    # GIVEN a class whose method takes other arguments
    class Changed:
        def invoke(self, payload: str, extra: int) -> None:
            pass

    # WHEN / THEN the check refuses
    with pytest.raises(HookError, match="signature"):
        check_hook_points([(Changed, "invoke", ["self", "body"])])


def test_check_hook_points_installed_moto_passes() -> None:
    # GIVEN the pinned moto
    # WHEN / THEN the real hook points are accepted
    check_hook_points()
