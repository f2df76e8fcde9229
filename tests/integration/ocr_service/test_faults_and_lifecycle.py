"""Fault injection, queue limits and retention over real HTTP."""

from __future__ import annotations

import time

import requests

from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.conftest import TIMEOUT, submit, wait_done


def test_retention_expired_task_reports_not_exist(page_b64: str) -> None:
    # GIVEN a server with 1 s retention and a completed task
    with start_service(retention=1.0) as svc:
        auth = {"Authorization": f"Bearer {svc.token()}"}
        task_id = submit(svc.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        assert wait_done(svc.base_url, "BinarizeImage", task_id, auth)["taskStatus"] == "Completed"
        # WHEN the retention passes
        time.sleep(1.2)
        body = wait_done(svc.base_url, "BinarizeImage", task_id, auth)
    # THEN the task is gone
    assert body["taskStatus"] == "NotExist"


def test_full_queue_returns_429_with_retry_after(page_b64: str) -> None:
    # GIVEN one worker held by a delay and a queue of one
    with start_service(workers=1, queue_size=1, fault_delay_seconds=3) as svc:
        auth = {"Authorization": f"Bearer {svc.token()}"}
        statuses = [submit(svc.base_url, "BinarizeImage", {"image": page_b64}, auth) for _ in range(4)]
    # THEN later submissions are refused with 429 and Retry-After
    refused = [r for r in statuses if r.status_code == 429]
    assert refused and refused[0].headers["Retry-After"].isdigit()


def test_delay_fault_keeps_task_not_ready(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    service.set_faults(delay_seconds=2)
    try:
        task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        body = requests.get(
            service.base_url + "/v5.0/ocr/BinarizeImage",
            params={"id": task_id},
            headers=auth,
            timeout=TIMEOUT,
        ).json()
    finally:
        service.set_faults(delay_seconds=0)
    assert body["taskStatus"] in ("Pending", "Processing") and body["responseStatusCode"] == "NotReady"
    assert body["results"] is None


def test_error_fault_ends_task_in_error(service: RunningService, auth: dict[str, str], page_b64: str) -> None:
    service.set_faults(error_rate=1.0)
    try:
        task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        body = wait_done(service.base_url, "BinarizeImage", task_id, auth)
    finally:
        service.set_faults(error_rate=0.0)
    assert body["taskStatus"] == "Error" and body["responseStatusCode"] == "Error"
    assert body["results"] is None and body["error"]["messages"]


def test_429_fault_answers_with_retry_after(service: RunningService, auth: dict[str, str]) -> None:
    service.set_faults(rate_429=1.0)
    try:
        response = requests.get(
            service.base_url + "/v5.0/ocr/BinarizeImage?id=x", headers=auth, timeout=TIMEOUT
        )
    finally:
        service.set_faults(rate_429=0.0)
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_5xx_fault_answers_503(service: RunningService, auth: dict[str, str]) -> None:
    service.set_faults(rate_5xx=1.0)
    try:
        response = requests.get(
            service.base_url + "/v5.0/ocr/BinarizeImage?id=x", headers=auth, timeout=TIMEOUT
        )
    finally:
        service.set_faults(rate_5xx=0.0)
    assert response.status_code == 503


def test_lost_fault_reports_completed_task_not_exist(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    service.set_faults(lost_rate=1.0)
    try:
        task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
        body = wait_done(service.base_url, "BinarizeImage", task_id, auth)
    finally:
        service.set_faults(lost_rate=0.0)
    assert body["taskStatus"] == "NotExist"


def test_seeded_fault_rate_is_reproducible(service: RunningService, auth: dict[str, str]) -> None:
    def run() -> list[int]:
        service.set_faults(rate_429=0.5, seed=7)
        codes = [
            requests.get(
                service.base_url + "/v5.0/ocr/BinarizeImage?id=x", headers=auth, timeout=TIMEOUT
            ).status_code
            for _ in range(12)
        ]
        service.set_faults(rate_429=0.0, seed=None)
        return codes

    first, second = run(), run()
    assert first == second and 429 in first and 200 in first


def test_stats_count_requests_per_route(service: RunningService, auth: dict[str, str]) -> None:
    before = service.stats()["requests"].get("GET GetTaskStatus", 0)
    requests.get(service.base_url + "/v5.0/ocr/Utilities/GetTaskStatus?id=x", headers=auth, timeout=TIMEOUT)
    assert service.stats()["requests"]["GET GetTaskStatus"] == before + 1
