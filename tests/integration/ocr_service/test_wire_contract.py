"""Wire-format contract of the OCR service over real HTTP (Aspose.OCR Cloud v5 shapes)."""

from __future__ import annotations

import base64
import re
import uuid

import requests
import urllib3

from ocr_service.testing import RunningService
from tests.integration.ocr_service.conftest import TIMEOUT, submit, wait_done

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_root_when_ready_returns_200(service: RunningService) -> None:
    # WHEN the root is fetched THEN it answers 200
    assert requests.get(service.base_url + "/", timeout=TIMEOUT).status_code == 200


def test_token_form_urlencoded_returns_bearer_json(service: RunningService) -> None:
    # GIVEN valid credentials in a form body WHEN the token is requested
    response = requests.post(
        service.base_url + "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": service.client_id,
            "client_secret": service.client_secret,
        },
        timeout=TIMEOUT,
    )
    # THEN JSON with the OAuth2 fields comes back
    body = response.json()
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_in"] > 0


def test_token_multipart_like_python_sdk_24_8_returns_token(service: RunningService) -> None:
    # GIVEN the request the Python SDK 24.8 sends (urllib3 fields= -> multipart, header typo ContentType)
    http = urllib3.PoolManager()
    response = http.request(
        "POST",
        service.base_url + "/connect/token",
        headers={
            "ContentType": "application/x-www-form-urlencoded",
            "Accept": "application/json;charset=UTF-8",
        },
        fields={
            "client_id": service.client_id,
            "client_secret": service.client_secret,
            "grant_type": "client_credentials",
        },
        timeout=10.0,
    )
    # THEN the token is issued
    assert response.status == 200 and response.json()["access_token"]


def test_token_http_basic_returns_token(service: RunningService) -> None:
    # GIVEN credentials in HTTP Basic (what Go's x/oauth2 sends first)
    response = requests.post(
        service.base_url + "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client_id, service.client_secret),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"


def test_token_wrong_secret_returns_invalid_client(service: RunningService) -> None:
    response = requests.post(
        service.base_url + "/connect/token",
        data={"grant_type": "client_credentials", "client_id": service.client_id, "client_secret": "nope"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_api_without_bearer_returns_401_problem(service: RunningService, page_b64: str) -> None:
    response = submit(service.base_url, "BinarizeImage", {"image": page_b64}, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


def test_api_with_bad_bearer_returns_401(service: RunningService, page_b64: str) -> None:
    response = submit(
        service.base_url, "BinarizeImage", {"image": page_b64}, {"Authorization": "Bearer abc.def.ghi"}
    )
    assert response.status_code == 401 and "invalid" in response.json()["detail"]


def test_post_returns_bare_lowercase_guid_as_text(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    response = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert GUID.match(response.text)


def test_binarize_completed_returns_png_result(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    # GIVEN a submitted binarization
    task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
    # WHEN polled to completion
    body = wait_done(service.base_url, "BinarizeImage", task_id, auth)
    # THEN one ImagePNG result, Ok, error null
    assert body["id"] == task_id and body["taskStatus"] == "Completed" and body["responseStatusCode"] == "Ok"
    assert body["error"] is None and [r["type"] for r in body["results"]] == ["ImagePNG"]
    assert base64.b64decode(body["results"][0]["data"]).startswith(b"\x89PNG")


def test_routes_and_keys_case_insensitive(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    # GIVEN lowercase route and PascalCase keys, regions null
    body = {"Image": page_b64, "Settings": {"Rotate": 0, "regions": None, "ResultType": "Text"}}
    task_id = submit(service.base_url, "recognizeimage", body, auth).text
    # THEN the task completes via the PascalCase route
    assert wait_done(service.base_url, "RecognizeImage", task_id, auth)["taskStatus"] == "Completed"


def test_get_task_status_has_no_results(service: RunningService, auth: dict[str, str], page_b64: str) -> None:
    task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
    wait_done(service.base_url, "BinarizeImage", task_id, auth)
    response = requests.get(
        service.base_url + "/v5.0/ocr/Utilities/GetTaskStatus",
        params={"id": task_id},
        headers=auth,
        timeout=TIMEOUT,
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["taskStatus"] == "Completed" and response.json()["results"] is None


def test_unknown_id_returns_not_exist(service: RunningService, auth: dict[str, str]) -> None:
    response = requests.get(
        service.base_url + "/v5.0/ocr/RecognizeImage",
        params={"id": str(uuid.uuid4())},
        headers=auth,
        timeout=TIMEOUT,
    )
    body = response.json()
    assert response.status_code == 200
    assert (
        body["taskStatus"] == "NotExist"
        and body["responseStatusCode"] == "TaskNotFound"
        and body["results"] is None
    )


def test_delete_cancels_task(service: RunningService, auth: dict[str, str], page_b64: str) -> None:
    task_id = submit(service.base_url, "DeskewImage", {"image": page_b64}, auth).text
    response = requests.delete(
        service.base_url + "/v5.0/ocr/DeskewImage", params={"id": task_id}, headers=auth, timeout=TIMEOUT
    )
    assert response.status_code == 200 and response.content == b""
    assert wait_done(service.base_url, "DeskewImage", task_id, auth)["taskStatus"] == "NotExist"


def test_upscale_doubles_size(service: RunningService, auth: dict[str, str], page_b64: str) -> None:
    task_id = submit(service.base_url, "UpscaleImage", {"image": page_b64}, auth).text
    body = wait_done(service.base_url, "UpscaleImage", task_id, auth)
    png = base64.b64decode(body["results"][0]["data"])
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 600)
