"""The local stack counts the AWS requests it serves by `service operation`."""

from __future__ import annotations

import pytest

from local_stack.server import request_kind

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/{service}/aws4_request, SignedHeaders=host"


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({"HTTP_AUTHORIZATION": SIGNED.format(service="s3"), "REQUEST_METHOD": "PUT"}, "s3 PUT"),
        (
            {
                "HTTP_AUTHORIZATION": SIGNED.format(service="dynamodb"),
                "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactWriteItems",
                "REQUEST_METHOD": "POST",
            },
            "dynamodb TransactWriteItems",
        ),
        (
            {
                "HTTP_AUTHORIZATION": SIGNED.format(service="states"),
                "HTTP_X_AMZ_TARGET": "AWSStepFunctions.SendTaskSuccess",
            },
            "states SendTaskSuccess",
        ),
        (
            {
                "QUERY_STRING": "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=testing%2F20261203%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc",
                "REQUEST_METHOD": "GET",
            },
            "s3 GET",
        ),
        ({"REQUEST_METHOD": "GET"}, "unsigned GET"),
    ],
)
def test_a_request_is_counted_as_its_service_and_operation(environ: dict[str, str], kind: str) -> None:
    # GIVEN a request's WSGI environ / WHEN classified / THEN service from the signature, operation from
    # the JSON target or, for S3, the method
    assert request_kind(environ) == kind
