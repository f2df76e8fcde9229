"""Hostile input against the real service on loopback: oversized forms, odd bearers, JSON bombs,
region and work bombs, admin access, overdue tasks, result bytes. Never a 5xx, never a hang; `GET /`
keeps answering within 2 s for the whole module (checked by its last test).
"""

from __future__ import annotations

import time

import pytest
import requests

from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.conftest import TIMEOUT, submit, wait_done
from tests.integration.ocr_service.hostile_client import (
    ROOT_DEADLINE_S,
    RootProbe,
    assert_problem,
    exchange,
    page_png_b64,
    request_bytes,
)


def test_token_request_with_25_form_fields_returns_400(svc: RunningService, probe: RootProbe) -> None:
    # GIVEN a token request with 25 form fields
    fields = {"grant_type": "client_credentials", "client_id": svc.client_id, "client_secret": "x"}
    fields.update({f"f{i}": "v" for i in range(22)})
    # WHEN posted THEN a 400 ProblemDetails comes back, not a 500
    response = requests.post(svc.base_url + "/connect/token", data=fields, timeout=TIMEOUT)
    assert_problem(response, 400)


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
    assert_problem(response, 401)


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
    assert "deep" in assert_problem(response, 400)["detail"]


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
    assert "JSON" in assert_problem(response, 400)["detail"] and time.monotonic() - started < 5.0


def test_json_5000_digit_integer_returns_400(svc: RunningService, bearer: dict[str, str]) -> None:
    body = b'{"image": "iVBORw0KGgo=", "settings": {"Rotate": ' + b"7" * 5000 + b"}}"
    response = requests.post(
        svc.base_url + "/v5.0/ocr/RecognizeImage",
        data=body,
        headers={**bearer, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert "number" in assert_problem(response, 400)["detail"]


def test_1000_regions_are_rejected(svc: RunningService, bearer: dict[str, str]) -> None:
    regions = [
        {"rect": {"topLeftX": 0, "topLeftY": 0, "bottomRightX": 10, "bottomRightY": 10}, "order": i}
        for i in range(1000)
    ]
    body = {"image": page_png_b64(100, 100), "settings": {"regions": regions}}
    response = submit(svc.base_url, "RecognizeImage", body, bearer)
    assert "regions" in assert_problem(response, 413)["detail"]


def test_over_budget_work_returns_413(svc: RunningService, bearer: dict[str, str]) -> None:
    # GIVEN 12 full-page regions of a 2000x2000 page with upsampling (12 x 16 MPix of work)
    region = {"rect": {"topLeftX": 0, "topLeftY": 0, "bottomRightX": 2000, "bottomRightY": 2000}}
    body = {
        "image": page_png_b64(2000, 2000),
        "settings": {"makeUpsampling": True, "regions": [{**region, "order": i} for i in range(12)]},
    }
    # WHEN submitted THEN refused up front with 413
    response = submit(svc.base_url, "RecognizeImage", body, bearer)
    assert "work" in assert_problem(response, 413)["detail"]


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
        assert_problem(response, 401)
    assert svc.faults()["rate_5xx"] == 0.0


def test_admin_routes_with_admin_secret_answer(svc: RunningService, probe: RootProbe) -> None:
    assert svc.faults()["rate_5xx"] == 0.0 and "requests" in svc.stats()


def test_admin_routes_off_by_default_return_404(probe: RootProbe) -> None:
    with start_service(admin=False) as plain:
        response = requests.get(plain.base_url + "/_admin/stats", timeout=TIMEOUT)
    assert response.status_code == 404


def test_overdue_task_is_killed_and_next_task_runs(page_b64: str) -> None:
    # GIVEN one worker, a 1 s time limit and a task far longer than that (upsampled OCR of noise)
    noise = {"image": page_png_b64(3000, 3000, noise=True), "settings": {"makeUpsampling": True}}
    with start_service(workers=1, queue_size=4, task_timeout=1) as one:
        auth = {"Authorization": f"Bearer {one.token()}"}
        slow = submit(one.base_url, "RecognizeImage", noise, auth).text
        quick = submit(one.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        # WHEN the limit passes THEN the slow task is Error and the next one completes soon after
        assert wait_done(one.base_url, "RecognizeImage", slow, auth, 10.0)["taskStatus"] == "Error"
        assert wait_done(one.base_url, "BinarizeImage", quick, auth, 6.0)["taskStatus"] == "Completed"
        # AND the overrunning worker was replaced
        assert one.stats()["workers"] == {"count": 1, "replaced": 1}


def test_retained_result_bytes_over_the_cap_drop_oldest_results(probe: RootProbe) -> None:
    # GIVEN a service that keeps at most 1 KiB of results
    with start_service(max_result_bytes=1024) as small:
        auth = {"Authorization": f"Bearer {small.token()}"}
        # WHEN a result alone is over the cap THEN that task ends in Error
        big = submit(
            small.base_url, "BinarizeImage", {"image": page_png_b64(200, 200, noise=True)}, auth
        ).text
        failed = wait_done(small.base_url, "BinarizeImage", big, auth)
        assert failed["taskStatus"] == "Error" and "retained" in failed["error"]["messages"][0]
        # WHEN many small results together pass the cap THEN the oldest are forgotten, the newest kept
        # (12 binarized 40x40 noise images: a few hundred bytes each, several KiB together)
        ids: list[str] = []
        for _ in range(12):
            body = {"image": page_png_b64(40, 40, noise=True)}
            ids.append(submit(small.base_url, "BinarizeImage", body, auth).text)
            wait_done(small.base_url, "BinarizeImage", ids[-1], auth)
        statuses = [wait_done(small.base_url, "BinarizeImage", i, auth)["taskStatus"] for i in ids]
        retained = small.stats()["results"]["bytes"]
    assert statuses[0] == "NotExist" and statuses[-1] == "Completed" and 0 < retained <= 1024


def test_root_answered_within_2_s_throughout_the_module(probe: RootProbe) -> None:
    # THEN, over every hostile test above, the root answered 200 within the deadline each time
    probe.__exit__()
    assert not probe.failures, probe.failures[:5]
    assert probe.samples and all(status == 200 for status, _ in probe.samples)
    assert max(seconds for _, seconds in probe.samples) < ROOT_DEADLINE_S
