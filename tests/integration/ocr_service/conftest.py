"""Shared fixtures: one running ocr-service per module, page images, tokens and polling helpers."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image

from bench.corpus import Page, degrade, make_page
from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.hostile_client import REQUEST_TIMEOUT_S, RootProbe

TIMEOUT = (3.05, 30.0)


def png_b64(image: Any, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="session")
def page() -> Page:
    return degrade(make_page(21, width=640, height=300, font="sans", font_px=22), "uneven_illumination", 21)


@pytest.fixture(scope="session")
def page_b64(page: Page) -> str:
    return png_b64(page.image)


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    with start_service(workers=2, queue_size=8) as svc:
        yield svc


@pytest.fixture(scope="module")
def auth(service: RunningService) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.token()}"}


@pytest.fixture(scope="module")
def svc() -> Iterator[RunningService]:
    """The hostile tests' service: 2 workers, a queue of 4, a short request deadline."""
    with start_service(workers=2, queue_size=4, request_timeout=REQUEST_TIMEOUT_S) as running:
        yield running


@pytest.fixture(scope="module")
def probe(svc: RunningService) -> Iterator[RootProbe]:
    """Polls `GET /` of `svc` for the whole module; the module's last test checks the answers."""
    with RootProbe(svc.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def bearer(svc: RunningService, probe: RootProbe) -> dict[str, str]:
    return {"Authorization": f"Bearer {svc.token()}"}


def wait_done(
    base_url: str, op: str, task_id: str, headers: dict[str, str], deadline_s: float = 30.0
) -> dict[str, Any]:
    """Poll GET /v5.0/ocr/<op>?id= until the task leaves Pending/Processing or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        body: dict[str, Any] = requests.get(
            f"{base_url}/v5.0/ocr/{op}", params={"id": task_id}, headers=headers, timeout=TIMEOUT
        ).json()
        if body["taskStatus"] not in ("Pending", "Processing"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {body['taskStatus']} after {deadline_s} s")
        time.sleep(0.05)


def submit(base_url: str, op: str, body: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{base_url}/v5.0/ocr/{op}", json=body, headers=headers, timeout=TIMEOUT)
