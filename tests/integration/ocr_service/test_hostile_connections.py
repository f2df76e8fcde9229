"""Hostile connections against the real service on loopback: short and slow requests, idle and
half-open connections, concurrent posts, connection and byte caps, responses nobody reads. Never a
5xx, never a hang; `GET /` keeps answering within 2 s for the whole module (its last test).
"""

from __future__ import annotations

import concurrent.futures
import socket
import time

import requests

from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.conftest import TIMEOUT, submit, wait_done
from tests.integration.ocr_service.hostile_client import (
    MARGIN_S,
    REQUEST_TIMEOUT_S,
    ROOT_DEADLINE_S,
    RootProbe,
    address,
    assert_problem,
    connect,
    exchange,
    page_png_b64,
    read_response,
    request_bytes,
)

IDLE_CONNECTIONS = 64


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


def test_request_deadline_counts_from_the_connection_not_from_the_headers(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    # GIVEN a client that takes 2.5 s for its headers and then sends no body
    started = time.monotonic()
    with connect(svc.base_url) as sock:
        sock.sendall(b"POST /v5.0/ocr/BinarizeImage HTTP/1.1\r\nHost: x\r\n")
        time.sleep(2.5)
        sock.sendall(f"Authorization: {bearer['Authorization']}\r\nContent-Length: 100\r\n\r\n".encode())
        response = read_response(sock, deadline_s=REQUEST_TIMEOUT_S + MARGIN_S)
    # THEN the 408 comes at the deadline counted from the connection (3 s), not 3 s after the headers
    assert response.status == 408 and time.monotonic() - started < REQUEST_TIMEOUT_S + 1.5


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
    image = page_png_b64(200, 100)

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


def test_malformed_request_line_gets_400_json(svc: RunningService, probe: RootProbe) -> None:
    response = exchange(svc.base_url, b"BLAH\r\n\r\n")
    assert response.status == 400 and response.json()["status"] == 400


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


def test_request_bytes_over_the_inflight_cap_get_429(probe: RootProbe) -> None:
    # GIVEN a service that receives at most 2 KiB of request bodies at once
    with start_service(max_inflight_bytes=2048) as tight:
        auth = {"Authorization": f"Bearer {tight.token()}"}
        # WHEN a 3 KiB body is posted THEN 429 + Retry-After, and a small one still goes through
        refused = submit(tight.base_url, "BinarizeImage", {"image": "A" * 3000}, auth)
        accepted = submit(tight.base_url, "BinarizeImage", {"image": page_png_b64(60, 40)}, auth)
    assert assert_problem(refused, 429) and refused.headers["Retry-After"] == "1"
    assert accepted.status_code == 200


def test_response_the_client_does_not_read_is_aborted_after_the_deadline(
    svc: RunningService, bearer: dict[str, str]
) -> None:
    # GIVEN a completed task with a ~12 MB result
    task_id = submit(
        svc.base_url, "UpscaleImage", {"image": page_png_b64(1500, 1500, noise=True)}, bearer
    ).text
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
        task_id = submit(
            tight.base_url, "UpscaleImage", {"image": page_png_b64(40, 40, noise=True)}, auth
        ).text
        status = wait_done(tight.base_url, "Utilities/GetTaskStatus", task_id, auth)
        # WHEN the result is fetched THEN 429 + Retry-After (the status without results still answers)
        response = requests.get(
            tight.base_url + "/v5.0/ocr/UpscaleImage", params={"id": task_id}, headers=auth, timeout=TIMEOUT
        )
        assert status["taskStatus"] == "Completed"
        assert assert_problem(response, 429) and response.headers["Retry-After"] == "1"


def test_root_answered_within_2_s_throughout_the_module(probe: RootProbe) -> None:
    # THEN, over every hostile test above, the root answered 200 within the deadline each time
    probe.__exit__()
    assert not probe.failures, probe.failures[:5]
    assert probe.samples and all(status == 200 for status, _ in probe.samples)
    assert max(seconds for _, seconds in probe.samples) < ROOT_DEADLINE_S
