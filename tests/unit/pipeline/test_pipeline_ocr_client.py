"""The OCR API client against a scripted HTTP server (``responses``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers

from ocr_pipeline.adapters.ocr_api import AsposeOcrClient, BoundedRetry, _Token, default_retry
from ocr_pipeline.adapters.secrets import ClientCredentials
from ocr_pipeline.domain.ports import TaskStatus
from ocr_pipeline.errors import (
    OcrApiAuthError,
    OcrApiProtocolError,
    OcrApiReplyLost,
    OcrApiThrottled,
    OcrApiTimeout,
    OcrApiUnavailable,
    OcrTaskFailed,
    OcrTaskNotFound,
)

BASE = "http://127.0.0.1:9"
TOKEN_URL = f"{BASE}/connect/token"
STATUS_URL = f"{BASE}/v5.0/ocr/Utilities/GetTaskStatus"
RECOGNIZE_URL = f"{BASE}/v5.0/ocr/RecognizeImage"
BINARIZE_URL = f"{BASE}/v5.0/ocr/BinarizeImage"
TASK = "5abe66e1-d823-48c1-bcb7-5c05c1719976"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> AsposeOcrClient:
    return AsposeOcrClient(BASE, lambda: ClientCredentials("local-client", "local-secret"), clock=clock)


def _token(
    rsps: responses.RequestsMock, value: str = "tok-1", expires_in: int = 3600
) -> responses.BaseResponse:
    return rsps.post(
        TOKEN_URL, json={"access_token": value, "expires_in": expires_in, "token_type": "Bearer"}
    )


def _status_body(
    status: str, results: list[dict[str, str]] | None = None, messages: list[str] | None = None
) -> str:
    return json.dumps(
        {
            "id": TASK,
            "taskStatus": status,
            "responseStatusCode": "Ok" if status == "Completed" else "NotReady",
            "results": results,
            "error": {"messages": messages, "warnings": None} if messages else None,
        }
    )


def _count(rsps: responses.RequestsMock, url: str) -> int:
    return sum(1 for call in rsps.calls if call.request.url and call.request.url.split("?")[0] == url)


def test_token_is_cached_across_requests(mocked: responses.RequestsMock, client: AsposeOcrClient) -> None:
    # GIVEN a token valid for an hour
    _token(mocked)
    mocked.get(STATUS_URL, body=_status_body("Pending"))
    # WHEN two requests are made
    client.task_status(TASK)
    client.task_status(TASK)
    # THEN the token was fetched once, sent as Bearer, with client credentials in a form body
    assert _count(mocked, TOKEN_URL) == 1
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer tok-1"
    assert "grant_type=client_credentials" in str(mocked.calls[0].request.body)


def test_token_is_refreshed_a_minute_before_expiry(
    mocked: responses.RequestsMock, client: AsposeOcrClient, clock: FakeClock
) -> None:
    # GIVEN a token fetched now that expires in 3600 s
    _token(mocked)
    mocked.get(STATUS_URL, body=_status_body("Pending"))
    client.task_status(TASK)
    # WHEN 3541 s pass (inside the 60 s margin) and a request is made
    clock.now += 3541
    client.task_status(TASK)
    # THEN a new token was fetched first
    assert _count(mocked, TOKEN_URL) == 2


def test_token_still_fresh_is_not_refreshed(
    mocked: responses.RequestsMock, client: AsposeOcrClient, clock: FakeClock
) -> None:
    # GIVEN a token with more than the margin left
    _token(mocked)
    mocked.get(STATUS_URL, body=_status_body("Pending"))
    client.task_status(TASK)
    # WHEN 3500 s pass / THEN the cached token is reused
    clock.now += 3500
    client.task_status(TASK)
    assert _count(mocked, TOKEN_URL) == 1


def test_request_401_refreshes_token_once_then_succeeds(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a server that revoked the first token
    _token(mocked, "old")
    _token(mocked, "new")
    mocked.get(STATUS_URL, status=401, match=[matchers.header_matcher({"Authorization": "Bearer old"})])
    mocked.get(
        STATUS_URL,
        body=_status_body("Completed"),
        match=[matchers.header_matcher({"Authorization": "Bearer new"})],
    )
    # WHEN a request is made
    response = client.task_status(TASK)
    # THEN one refresh and one resend succeed
    assert response.task_status is TaskStatus.COMPLETED
    assert _count(mocked, TOKEN_URL) == 2


def test_request_401_after_refresh_raises_auth_error(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a server that rejects every token
    _token(mocked)
    mocked.get(STATUS_URL, status=401)
    # WHEN a request is made / THEN it fails after exactly one refresh
    with pytest.raises(OcrApiAuthError):
        client.task_status(TASK)
    assert _count(mocked, TOKEN_URL) == 2


def test_token_request_rejected_raises_auth_error(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN wrong credentials / WHEN a request needs a token / THEN it is an auth error
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_client"})
    with pytest.raises(OcrApiAuthError):
        client.task_status(TASK)


def test_get_429_with_retry_after_then_success_returns_result(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a GET throttled once with Retry-After
    _token(mocked)
    mocked.get(STATUS_URL, status=429, headers={"Retry-After": "0"})
    mocked.get(STATUS_URL, body=_status_body("Processing"))
    # WHEN polled / THEN the client retried by itself
    assert client.task_status(TASK).task_status is TaskStatus.PROCESSING
    assert _count(mocked, STATUS_URL) == 2


def test_get_5xx_every_time_raises_unavailable_after_bounded_retries(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a server that always answers 503
    _token(mocked)
    mocked.get(STATUS_URL, status=503)
    # WHEN polled / THEN it gives up as unavailable after 1 + 3 attempts
    with pytest.raises(OcrApiUnavailable):
        client.task_status(TASK)
    assert _count(mocked, STATUS_URL) == 4


def test_get_429_every_time_raises_throttled(mocked: responses.RequestsMock, client: AsposeOcrClient) -> None:
    # GIVEN a server that keeps throttling / WHEN polled / THEN the workflow sees OcrApiThrottled
    _token(mocked)
    mocked.get(STATUS_URL, status=429, headers={"Retry-After": "0"})
    with pytest.raises(OcrApiThrottled):
        client.task_status(TASK)


def test_post_5xx_is_not_retried(mocked: responses.RequestsMock, client: AsposeOcrClient) -> None:
    # GIVEN a POST answered 500 (a task may or may not exist now)
    _token(mocked)
    mocked.post(BINARIZE_URL, status=500)
    # WHEN submitted / THEN exactly one POST was sent
    with pytest.raises(OcrApiUnavailable):
        client.submit_binarization(b"img")
    assert _count(mocked, BINARIZE_URL) == 1


def test_post_429_raises_throttled_without_resending(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a POST answered 429 / WHEN submitted / THEN it surfaces for the workflow's backoff retry
    _token(mocked)
    mocked.post(BINARIZE_URL, status=429)
    with pytest.raises(OcrApiThrottled):
        client.submit_binarization(b"img")
    assert _count(mocked, BINARIZE_URL) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectTimeout()])
def test_timeout_raises_named_timeout_error(
    mocked: responses.RequestsMock, client: AsposeOcrClient, exc: Exception
) -> None:
    # GIVEN a server that does not answer in time / WHEN polled / THEN OcrApiTimeout is raised
    _token(mocked)
    mocked.get(STATUS_URL, body=exc)
    with pytest.raises(OcrApiTimeout):
        client.task_status(TASK)


def test_connection_refused_raises_unavailable(client: AsposeOcrClient) -> None:
    # GIVEN nothing listening on the base URL (loopback port 9) / WHEN called / THEN unavailable
    fast = AsposeOcrClient(BASE, lambda: ClientCredentials("a", "b"), retry=default_retry().new(total=0))
    with pytest.raises(OcrApiUnavailable):
        fast.task_status(TASK)


def test_post_read_timeout_raises_reply_lost_not_plain_timeout(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a POST whose answer does not arrive in time (the server may have created the task)
    _token(mocked)
    mocked.post(BINARIZE_URL, body=requests.exceptions.ReadTimeout())
    # WHEN submitted / THEN the error says the outcome is unknown
    with pytest.raises(OcrApiReplyLost):
        client.submit_binarization(b"png")


def test_post_connect_timeout_raises_retryable_timeout(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a POST that never reached the server / WHEN submitted / THEN a plain (retryable) timeout
    _token(mocked)
    mocked.post(BINARIZE_URL, body=requests.exceptions.ConnectTimeout())
    with pytest.raises(OcrApiTimeout) as caught:
        client.submit_binarization(b"png")
    assert not isinstance(caught.value, OcrApiReplyLost)


def test_post_connection_refused_raises_unavailable_not_reply_lost() -> None:
    # GIVEN nothing listening / WHEN a POST is attempted / THEN unavailable: it provably never arrived
    fast = AsposeOcrClient(BASE, lambda: ClientCredentials("a", "b"), retry=default_retry().new(total=0))
    fast._token = _Token("t", float("inf"))
    with pytest.raises(OcrApiUnavailable) as caught:
        fast.submit_binarization(b"png")
    assert not isinstance(caught.value, OcrApiReplyLost)


def test_post_bare_guid_response_is_task_id(mocked: responses.RequestsMock, client: AsposeOcrClient) -> None:
    # GIVEN the documented text/plain bare GUID answer
    _token(mocked)
    mocked.post(RECOGNIZE_URL, body=f"{TASK}\n", content_type="text/plain")
    # WHEN recognition is submitted
    task_id = client.submit_recognition(b"img", language="English", make_binarization=True)
    # THEN the id is returned as is, and the body carries base64 image and settings
    assert task_id == TASK
    sent = json.loads(mocked.calls[-1].request.body or b"{}")
    assert sent["image"] == base64.b64encode(b"img").decode()
    assert (sent["settings"]["makeBinarization"], sent["settings"]["resultType"]) == (True, "Text")


def test_post_quoted_guid_response_is_unquoted(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a server that JSON-quotes the id / WHEN submitted / THEN the quotes are dropped
    _token(mocked)
    mocked.post(BINARIZE_URL, body=f'"{TASK}"')
    assert client.submit_binarization(b"img") == TASK


def test_post_html_response_is_protocol_error(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a proxy error page instead of an id / WHEN submitted / THEN it is a protocol error
    _token(mocked)
    mocked.post(BINARIZE_URL, body="<html>gateway</html>")
    with pytest.raises(OcrApiProtocolError):
        client.submit_binarization(b"img")


def test_recognition_result_completed_decodes_utf8_text(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a completed RecognizeImage task
    _token(mocked)
    data = base64.b64encode("Grüße".encode()).decode()
    mocked.get(RECOGNIZE_URL, body=_status_body("Completed", [{"type": "Text", "data": data}]))
    # WHEN its result is read / THEN the text is decoded
    assert client.recognition_result(TASK) == "Grüße"


def test_binarization_result_returns_png_bytes(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a completed BinarizeImage task / WHEN its result is read / THEN the PNG bytes come back
    _token(mocked)
    png = b"\x89PNG\r\n\x1a\nrest"
    mocked.get(
        BINARIZE_URL,
        body=_status_body("Completed", [{"type": "ImagePNG", "data": base64.b64encode(png).decode()}]),
    )
    assert client.binarization_result(TASK) == png


def test_result_not_exist_raises_task_not_found(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN an expired task / WHEN its result is read / THEN OcrTaskNotFound
    _token(mocked)
    mocked.get(RECOGNIZE_URL, body=_status_body("NotExist"))
    with pytest.raises(OcrTaskNotFound):
        client.recognition_result(TASK)


def test_result_error_raises_task_failed_with_messages(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a task that failed / WHEN its result is read / THEN OcrTaskFailed carries the API's message
    _token(mocked)
    mocked.get(RECOGNIZE_URL, body=_status_body("Error", messages=["image is corrupt"]))
    with pytest.raises(OcrTaskFailed, match="image is corrupt"):
        client.recognition_result(TASK)


def test_status_unknown_value_is_protocol_error(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN a status outside OCRTaskStatus / WHEN polled / THEN it is a protocol error
    _token(mocked)
    mocked.get(STATUS_URL, body=_status_body("Sleeping"))
    with pytest.raises(OcrApiProtocolError):
        client.task_status(TASK)


def test_status_response_parses_messages_and_no_results(
    mocked: responses.RequestsMock, client: AsposeOcrClient
) -> None:
    # GIVEN GetTaskStatus of a failed task / WHEN polled / THEN the status and messages are typed
    _token(mocked)
    mocked.get(STATUS_URL, body=_status_body("Error", messages=["bad", "worse"]))
    response = client.task_status(TASK)
    assert (response.task_status, response.messages, response.results) == (
        TaskStatus.ERROR,
        ("bad", "worse"),
        (),
    )


def test_bounded_retry_caps_retry_after() -> None:
    # GIVEN a server asking to come back in an hour / WHEN parsed / THEN the wait is capped
    assert BoundedRetry(total=1).parse_retry_after("3600") == BoundedRetry.MAX_RETRY_AFTER


def test_bounded_retry_honours_short_retry_after() -> None:
    # GIVEN / WHEN / THEN a short Retry-After is honoured as given
    assert BoundedRetry(total=1).parse_retry_after("2") == 2.0


def test_default_retry_never_retries_post() -> None:
    # GIVEN the default policy / WHEN asked about a 503 on POST / THEN it declines (a task may exist)
    assert not default_retry().is_retry("POST", 503, has_retry_after=False)
    assert default_retry().is_retry("GET", 503, has_retry_after=False)
