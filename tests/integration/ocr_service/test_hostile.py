"""Hostile clients against the real service on loopback: never a 5xx, never a hang.

Every client call has a deadline; a background probe checks that `GET /` keeps answering within 2 s
for the whole module, including while idle, half-open and slow connections are held.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.conftest import TIMEOUT, submit, wait_done
from tests.integration.ocr_service.hostile_client import (
    address,
    connect,
    exchange,
    read_response,
    request_bytes,
)

ROOT_DEADLINE_S = 2.0
IDLE_CONNECTIONS = 64
REQUEST_TIMEOUT_S = 3.0
"""The service's request deadline in this module (headers + body)."""
MARGIN_S = 2.0


def _png(width: int, height: int, noise: bool = False) -> str:
    if noise:
        image = np.random.default_rng(1).integers(0, 256, (height, width), dtype=np.uint8)
    else:
        image = np.full((height, width), 255, np.uint8)
        image[height // 4 : height // 2, width // 8 : width // 2] = 0
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class RootProbe:
    """Polls `GET /` in a thread; records every answer (status, seconds) or failure."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.samples: list[tuple[int, float]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RootProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            started = time.monotonic()
            try:
                status = requests.get(
                    self.base_url + "/", timeout=(ROOT_DEADLINE_S, ROOT_DEADLINE_S)
                ).status_code
                self.samples.append((status, time.monotonic() - started))
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def svc() -> Iterator[RunningService]:
    with start_service(workers=2, queue_size=4, request_timeout=REQUEST_TIMEOUT_S) as running:
        yield running


@pytest.fixture(scope="module")
def probe(svc: RunningService) -> Iterator[RootProbe]:
    with RootProbe(svc.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def bearer(svc: RunningService, probe: RootProbe) -> dict[str, str]:
    return {"Authorization": f"Bearer {svc.token()}"}


def _assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_token_request_with_25_form_fields_returns_400(svc: RunningService, probe: RootProbe) -> None:
    # GIVEN a token request with 25 form fields
    fields = {"grant_type": "client_credentials", "client_id": svc.client_id, "client_secret": "x"}
    fields.update({f"f{i}": "v" for i in range(22)})
    # WHEN posted THEN a 400 ProblemDetails comes back, not a 500
    response = requests.post(svc.base_url + "/connect/token", data=fields, timeout=TIMEOUT)
    _assert_problem(response, 400)


@pytest.mark.parametrize(
    "token",
    [
        "abc.def.\u00ff\u00fe",
        "t\u00f6k\u00e9n",
    ],
    ids=["signature", "whole"],
)
def test_non_ascii_bearer_returns_401(svc: RunningService, probe: RootProbe, token: str) -> None:
    # GIVEN a bearer token with non-ASCII bytes WHEN used THEN 401, not a 500
    response = requests.get(
        svc.base_url + "/v5.0/ocr/BinarizeImage?id=x",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    _assert_problem(response, 401)


def test_utf8_bearer_bytes_on_the_wire_return_401(svc: RunningService, probe: RootProbe) -> None:
    raw = request_bytes("GET", "/v5.0/ocr/BinarizeImage?id=x").replace(
        b"\r\n\r\n", "\r\nAuthorization: Bearer a.b.\u0442\u043e\u043a\u0435\u043d\r\n\r\n".encode(), 1
    )
    assert exchange(svc.base_url, raw).status == 401


def test_json_nested_100000_deep_returns_400(svc: RunningService, bearer: dict[str, str]) -> None:
    body = b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = requests.post(
        svc.base_url + "/v5.0/ocr/BinarizeImage",
        data=body,
        headers={**bearer, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert "deep" in _assert_problem(response, 400)["detail"]


def test_json_string_of_escaped_quotes_returns_400_quickly(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    # GIVEN an unterminated string of 2 MB of escaped quotes WHEN posted THEN 400 within seconds
    body = b'{"image": "' + b'\\"' * 1_000_000
    started = time.monotonic()
    response = requests.post(
        svc.base_url + "/v5.0/ocr/BinarizeImage",
        data=body,
        headers={**bearer, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert "JSON" in _assert_problem(response, 400)["detail"] and time.monotonic() - started < 5.0


def test_json_5000_digit_integer_returns_400(svc: RunningService, bearer: dict[str, str]) -> None:
    body = b'{"image": "iVBORw0KGgo=", "settings": {"Rotate": ' + b"7" * 5000 + b"}}"
    response = requests.post(
        svc.base_url + "/v5.0/ocr/RecognizeImage",
        data=body,
        headers={**bearer, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert "number" in _assert_problem(response, 400)["detail"]


def test_body_shorter_than_content_length_gets_408_within_deadline(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    # GIVEN a POST announcing 1000 bytes that sends 10 and then stalls (connection kept open)
    raw = request_bytes(
        "POST", "/v5.0/ocr/BinarizeImage", b"", {**bearer, "Content-Type": "application/json"}
    )
    raw = raw.replace(b"Content-Length: 0", b"Content-Length: 1000") + b'{"image": '
    with connect(svc.base_url) as sock:
        sock.sendall(raw)
        # WHEN the request deadline passes THEN 408 ProblemDetails, within the deadline
        response = read_response(sock, deadline_s=REQUEST_TIMEOUT_S + MARGIN_S)
    assert response.status == 408 and response.json()["status"] == 408
    assert response.headers["connection"] == "close"


def test_body_shorter_than_content_length_then_eof_gets_4xx(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    raw = request_bytes(
        "POST", "/v5.0/ocr/BinarizeImage", b"", {**bearer, "Content-Type": "application/json"}
    )
    raw = raw.replace(b"Content-Length: 0", b"Content-Length: 1000") + b'{"image": '
    with connect(svc.base_url) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        response = read_response(sock, deadline_s=12.0)
    assert 400 <= response.status < 500 or response.status == 0


def test_64_idle_half_open_connections_root_still_answers(svc: RunningService, probe: RootProbe) -> None:
    # GIVEN 64 connections that sent half a request line and stay idle
    held = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            sock = connect(svc.base_url)
            sock.sendall(b"POST /v5.0/ocr/BinarizeImage HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        # WHEN the root is asked for several times THEN each answer is a 200 within 2 s
        for _ in range(5):
            started = time.monotonic()
            response = requests.get(svc.base_url + "/", timeout=(ROOT_DEADLINE_S, ROOT_DEADLINE_S))
            assert response.status_code == 200 and time.monotonic() - started < ROOT_DEADLINE_S
        # AND the half-open requests are answered 408 once their deadline passes
        answers = [read_response(sock, REQUEST_TIMEOUT_S + MARGIN_S).status for sock in held]
        assert set(answers) == {408}
    finally:
        for sock in held:
            sock.close()


def test_slow_headers_are_cut_off_with_408(svc: RunningService, probe: RootProbe) -> None:
    # GIVEN a client that sends its headers one byte every 0.3 s
    raw = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    started = time.monotonic()
    closed_by_server = False
    with connect(svc.base_url) as sock:
        for byte in raw:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_by_server = True
                break
            if time.monotonic() - started > REQUEST_TIMEOUT_S + MARGIN_S:
                break
            time.sleep(0.3)
        response = read_response(sock, deadline_s=MARGIN_S) if not closed_by_server else None
    # THEN the server ends the request (408 or close) at its deadline, before the client finished
    assert closed_by_server or (response is not None and response.status in (0, 408))
    assert time.monotonic() - started < REQUEST_TIMEOUT_S + 2 * MARGIN_S


def test_60_concurrent_posts_get_answers_not_resets(svc: RunningService, bearer: dict[str, str]) -> None:
    # GIVEN 60 clients posting at once
    image = _png(200, 100)

    def post(_: int) -> int | str:
        try:
            return submit(svc.base_url, "BinarizeImage", {"image": image}, bearer).status_code
        except requests.RequestException as exc:
            return f"{type(exc).__name__}"

    with concurrent.futures.ThreadPoolExecutor(60) as pool:
        outcomes = list(pool.map(post, range(60)))
    # THEN every one is answered: accepted (200) or told to come back (429)
    assert all(outcome in (200, 429) for outcome in outcomes), outcomes
    assert 200 in outcomes


def test_1000_regions_are_rejected(svc: RunningService, bearer: dict[str, str]) -> None:
    regions = [
        {"rect": {"topLeftX": 0, "topLeftY": 0, "bottomRightX": 10, "bottomRightY": 10}, "order": i}
        for i in range(1000)
    ]
    body = {"image": _png(100, 100), "settings": {"regions": regions}}
    response = submit(svc.base_url, "RecognizeImage", body, bearer)
    assert "regions" in _assert_problem(response, 413)["detail"]


def test_over_budget_work_returns_413(svc: RunningService, bearer: dict[str, str]) -> None:
    # GIVEN 12 full-page regions of a 2000x2000 page with upsampling (12 x 16 MPix of work)
    region = {"rect": {"topLeftX": 0, "topLeftY": 0, "bottomRightX": 2000, "bottomRightY": 2000}}
    body = {
        "image": _png(2000, 2000),
        "settings": {"makeUpsampling": True, "regions": [{**region, "order": i} for i in range(12)]},
    }
    # WHEN submitted THEN refused up front with 413
    response = submit(svc.base_url, "RecognizeImage", body, bearer)
    assert "work" in _assert_problem(response, 413)["detail"]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/_admin/stats"), ("GET", "/_admin/faults"), ("PUT", "/_admin/faults")]
)
def test_admin_routes_without_credentials_return_401(
    svc: RunningService, probe: RootProbe, method: str, path: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {svc.token()}"}):
        response = requests.request(
            method, svc.base_url + path, json={"rate_5xx": 1.0}, headers=headers, timeout=TIMEOUT
        )
        _assert_problem(response, 401)
    assert svc.faults()["rate_5xx"] == 0.0


def test_admin_routes_with_admin_secret_answer(svc: RunningService, probe: RootProbe) -> None:
    assert svc.faults()["rate_5xx"] == 0.0 and "requests" in svc.stats()


def test_admin_routes_off_by_default_return_404(probe: RootProbe) -> None:
    with start_service(admin=False) as plain:
        response = requests.get(plain.base_url + "/_admin/stats", timeout=TIMEOUT)
    assert response.status_code == 404


def test_malformed_request_line_gets_400_json(svc: RunningService, probe: RootProbe) -> None:
    response = exchange(svc.base_url, b"BLAH\r\n\r\n")
    assert response.status == 400 and response.json()["status"] == 400


def test_overdue_task_is_killed_and_next_task_runs(page_b64: str) -> None:
    # GIVEN one worker, a 1 s time limit and a task far longer than that (upsampled OCR of noise)
    noise = {"image": _png(3000, 3000, noise=True), "settings": {"makeUpsampling": True}}
    with start_service(workers=1, queue_size=4, task_timeout=1) as one:
        auth = {"Authorization": f"Bearer {one.token()}"}
        slow = submit(one.base_url, "RecognizeImage", noise, auth).text
        quick = submit(one.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        # WHEN the limit passes THEN the slow task is Error and the next one completes soon after
        assert wait_done(one.base_url, "RecognizeImage", slow, auth, 10.0)["taskStatus"] == "Error"
        assert wait_done(one.base_url, "BinarizeImage", quick, auth, 6.0)["taskStatus"] == "Completed"


def test_connections_over_the_cap_get_429(probe: RootProbe) -> None:
    # GIVEN a service capped at 8 connections, all held open by idle clients
    with start_service(max_connections=8) as capped:
        held = [connect(capped.base_url) for _ in range(8)]
        try:
            # WHEN one more client asks THEN it is told to retry (429 + Retry-After), not reset
            response = exchange(capped.base_url, request_bytes("GET", "/"), deadline_s=5.0)
        finally:
            for sock in held:
                sock.close()
    assert response.status == 429 and response.headers["retry-after"] == "1"
    assert response.json()["status"] == 429


def test_retained_result_bytes_over_the_cap_drop_oldest_results(probe: RootProbe) -> None:
    # GIVEN a service that keeps at most 1 KiB of results
    with start_service(max_result_bytes=1024) as small:
        auth = {"Authorization": f"Bearer {small.token()}"}
        # WHEN a result alone is over the cap THEN that task ends in Error
        big = submit(small.base_url, "BinarizeImage", {"image": _png(200, 200, noise=True)}, auth).text
        failed = wait_done(small.base_url, "BinarizeImage", big, auth)
        assert failed["taskStatus"] == "Error" and "retained" in failed["error"]["messages"][0]
        # WHEN many small results together pass the cap THEN the oldest are forgotten, the newest kept
        ids = [submit(small.base_url, "BinarizeImage", {"image": _png(60, 40)}, auth).text for _ in range(4)]
        for _ in range(4):
            ids.append(submit(small.base_url, "BinarizeImage", {"image": _png(60, 40)}, auth).text)
            wait_done(small.base_url, "BinarizeImage", ids[-1], auth)
        statuses = [wait_done(small.base_url, "BinarizeImage", i, auth)["taskStatus"] for i in ids]
        retained = small.stats()["tasks"]["result_bytes"]
    assert statuses[0] == "NotExist" and statuses[-1] == "Completed" and 0 < retained <= 1024


def test_request_bytes_over_the_inflight_cap_get_429(probe: RootProbe) -> None:
    # GIVEN a service that receives at most 2 KiB of request bodies at once
    with start_service(max_inflight_bytes=2048) as tight:
        auth = {"Authorization": f"Bearer {tight.token()}"}
        # WHEN a 3 KiB body is posted THEN 429 + Retry-After, and a small one still goes through
        refused = submit(tight.base_url, "BinarizeImage", {"image": "A" * 3000}, auth)
        accepted = submit(tight.base_url, "BinarizeImage", {"image": _png(60, 40)}, auth)
    assert _assert_problem(refused, 429) and refused.headers["Retry-After"] == "1"
    assert accepted.status_code == 200


def test_response_the_client_does_not_read_is_aborted_after_the_deadline(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    # GIVEN a completed task with a ~12 MB result
    task_id = submit(svc.base_url, "UpscaleImage", {"image": _png(1500, 1500, noise=True)}, bearer).text
    assert wait_done(svc.base_url, "UpscaleImage", task_id, bearer, 60.0)["taskStatus"] == "Completed"
    # WHEN a client with a tiny receive buffer asks for it and then reads nothing
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10.0)
    with sock:
        sock.connect(address(svc.base_url))
        sock.sendall(request_bytes("GET", f"/v5.0/ocr/UpscaleImage?id={task_id}", b"", bearer))
        time.sleep(REQUEST_TIMEOUT_S + MARGIN_S)
        # THEN the server has dropped the connection: reading yields less than the announced body
        received = b""
        started = time.monotonic()
        while time.monotonic() - started < 20.0:
            try:
                chunk = sock.recv(1 << 20)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    assert head.startswith(b"HTTP/1.1 200") and 0 < len(body) < length


def test_results_over_the_inflight_cap_get_429_status_still_answers(probe: RootProbe) -> None:
    # GIVEN 4 KiB in flight at most and a small request whose result is larger (2x upscaled noise)
    with start_service(max_inflight_bytes=4096) as tight:
        auth = {"Authorization": f"Bearer {tight.token()}"}
        task_id = submit(tight.base_url, "UpscaleImage", {"image": _png(40, 40, noise=True)}, auth).text
        status = wait_done(tight.base_url, "Utilities/GetTaskStatus", task_id, auth)
        # WHEN the result is fetched THEN 429 + Retry-After (the status without results still answers)
        response = requests.get(
            tight.base_url + "/v5.0/ocr/UpscaleImage", params={"id": task_id}, headers=auth, timeout=TIMEOUT
        )
        assert status["taskStatus"] == "Completed"
        assert _assert_problem(response, 429) and response.headers["Retry-After"] == "1"


def test_root_answered_within_2_s_throughout_the_module(probe: RootProbe) -> None:
    # THEN, over every hostile test above, the root answered 200 within the deadline each time
    probe.__exit__()
    assert not probe.failures, probe.failures[:5]
    assert probe.samples and all(status == 200 for status, _ in probe.samples)
    assert max(seconds for _, seconds in probe.samples) < ROOT_DEADLINE_S
