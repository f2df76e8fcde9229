"""The OCR service driven by Aspose's official Python SDK (`aspose-ocr-cloud` 24.11.0), as its README does.

Token requests are sent the way each official SDK sends them (form body, HTTP Basic, multipart); the raw
HTTP contract itself is covered by `test_wire_contract.py` and is not repeated here.
"""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import requests
import urllib3
from aspose_ocr_cloud.api.binarize_image_api import BinarizeImageApi
from aspose_ocr_cloud.api.deskew_image_api import DeskewImageApi
from aspose_ocr_cloud.api.dewarp_image_api import DewarpImageApi
from aspose_ocr_cloud.api.recognize_image_api import RecognizeImageApi
from aspose_ocr_cloud.api.upscale_image_api import UpscaleImageApi
from aspose_ocr_cloud.api.utilities_api import UtilitiesApi
from aspose_ocr_cloud.api_client import ApiClient
from aspose_ocr_cloud.configuration import Configuration
from aspose_ocr_cloud.exceptions import ApiException
from aspose_ocr_cloud.models.dsr_confidence import DsrConfidence
from aspose_ocr_cloud.models.dsr_mode import DsrMode
from aspose_ocr_cloud.models.language import Language
from aspose_ocr_cloud.models.ocr_binarize_image_body import OCRBinarizeImageBody
from aspose_ocr_cloud.models.ocr_deskew_image_body import OCRDeskewImageBody
from aspose_ocr_cloud.models.ocr_dewarp_image_body import OCRDewarpImageBody
from aspose_ocr_cloud.models.ocr_recognize_image_body import OCRRecognizeImageBody
from aspose_ocr_cloud.models.ocr_response import OCRResponse
from aspose_ocr_cloud.models.ocr_settings_recognize_image import OCRSettingsRecognizeImage
from aspose_ocr_cloud.models.ocr_upscale_image_body import OCRUpscaleImageBody
from aspose_ocr_cloud.models.problem_details import ProblemDetails
from aspose_ocr_cloud.models.result_type import ResultType
from PIL import Image

from bench.corpus import Page, photograph
from bench.metrics import cer
from ocr_service.testing import RunningService, start_service
from tests.integration.ocr_service.conftest import TIMEOUT

# Characters that HTTP Basic (Go's x/oauth2 URL-escapes them) and form bodies must carry intact.
SECRET = "sdk secret/+&=:%"
NOT_READY = ("Pending", "Processing")


@pytest.fixture(scope="module")
def sdk_service() -> Iterator[RunningService]:
    with start_service(workers=2, queue_size=16, client_secret=SECRET) as svc:
        yield svc


@pytest.fixture(scope="module")
def client(sdk_service: RunningService) -> Iterator[ApiClient]:
    # GIVEN the SDK configured as its README says: host + a token fetched from /connect/token
    config = Configuration(host=sdk_service.base_url, access_token=sdk_service.token())
    with ApiClient(config) as api_client:
        yield api_client


def _settings(result_type: str, **overrides: object) -> OCRSettingsRecognizeImage:
    """The settings the SDK's recognize example builds, with binarization on."""
    values: dict[str, object] = {
        "language": Language("English"),
        "makeSkewCorrect": True,
        "makeBinarization": True,
        "makeSpellCheck": False,
        "makeContrastCorrection": False,
        "makeUpsampling": False,
        "dsrMode": DsrMode("NoDsrNoFilter"),
        "dsrConfidence": DsrConfidence("Default"),
        "resultType": ResultType(result_type),
        **overrides,
    }
    return OCRSettingsRecognizeImage(**values)  # type: ignore[arg-type]


def _wait(fetch: Callable[..., OCRResponse], task_id: str, deadline_s: float = 30.0) -> OCRResponse:
    """Poll `fetch(id=task_id)` until the task leaves Pending/Processing; fail after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        response = fetch(id=task_id)
        if response.task_status not in NOT_READY:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {response.task_status} after {deadline_s} s")
        time.sleep(0.05)


def _png_size(data: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        image.load()
        return image.size


def _small_png_b64() -> str:
    image = np.full((40, 60), 255, np.uint8)
    image[10:30, 10:50] = 0
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _recognize(client: ApiClient, image_b64: str, settings: OCRSettingsRecognizeImage) -> OCRResponse:
    api = RecognizeImageApi(client)
    task_id = api.post_recognize_image(OCRRecognizeImageBody(image=image_b64, settings=settings))
    return _wait(api.get_recognize_image, task_id)


def test_sdk_binarize_completed_result_is_png_of_input_size(client: ApiClient, page_b64: str) -> None:
    # GIVEN a binarization posted through the SDK
    api = BinarizeImageApi(client)
    task_id = api.post_binarize_image(OCRBinarizeImageBody(image=page_b64))
    # WHEN it is fetched until completion
    response = _wait(api.get_binarize_image, task_id)
    # THEN the SDK model carries one ImagePNG result that decodes to a black/white page of the same size
    assert response.id == task_id and response.task_status == "Completed"
    assert response.response_status_code == "Ok" and response.error is None
    assert response.results is not None and [r.type for r in response.results] == ["ImagePNG"]
    data = str(response.results[0].data)
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        assert image.size == (640, 300) and set(np.unique(np.asarray(image.convert("L")))) <= {0, 255}


def test_sdk_get_right_after_post_deserializes_not_ready(
    sdk_service: RunningService, client: ApiClient, page_b64: str
) -> None:
    # GIVEN a task that is held in processing (the SDK examples GET immediately after POST)
    sdk_service.set_faults(delay_seconds=2.0)
    try:
        api = BinarizeImageApi(client)
        task_id = api.post_binarize_image(OCRBinarizeImageBody(image=page_b64))
        # WHEN it is fetched at once
        response = api.get_binarize_image(id=task_id)
    finally:
        sdk_service.set_faults(delay_seconds=0.0)
    # THEN the SDK deserializes the not-ready answer instead of raising
    assert response.task_status in NOT_READY and response.response_status_code == "NotReady"
    assert response.results is None and response.id == task_id


def test_sdk_recognize_text_close_to_truth(client: ApiClient, page: Page, page_b64: str) -> None:
    # GIVEN / WHEN a generated page is recognized with the SDK example's settings (binarization on)
    response = _recognize(client, page_b64, _settings("Text"))
    # THEN the text result decodes as UTF-8 and is close to the rendered text
    assert response.results is not None and [r.type for r in response.results] == ["Text"]
    text = base64.b64decode(str(response.results[0].data)).decode("utf-8")
    assert cer(page.text, text) < 0.02


def test_sdk_recognize_hocr_result_is_hocr_document(client: ApiClient, page_b64: str) -> None:
    response = _recognize(client, page_b64, _settings("Hocr"))
    assert response.results is not None and [r.type for r in response.results] == ["Hocr"]
    hocr = base64.b64decode(str(response.results[0].data)).decode("utf-8")
    assert "ocr_page" in hocr and "ocrx_word" in hocr


def test_sdk_recognize_json_result_has_text_blocks(client: ApiClient, page: Page, page_b64: str) -> None:
    response = _recognize(client, page_b64, _settings("JSON"))
    assert response.results is not None and [r.type for r in response.results] == ["JSON"]
    blocks = json.loads(base64.b64decode(str(response.results[0].data)))["blocks"]
    first_word = page.text.split()[0]
    assert blocks and any(first_word in block["text"] for block in blocks)


def test_sdk_settings_with_null_regions_and_no_rotate_complete(client: ApiClient, page_b64: str) -> None:
    # GIVEN settings serialized like the .NET SDK's: "regions": null and no "Rotate" key
    settings = _settings("Text", regions=None)
    sent = settings.to_dict()
    assert sent["regions"] is None and "Rotate" not in sent
    # WHEN recognized THEN the task completes
    assert _recognize(client, page_b64, settings).task_status == "Completed"


def test_sdk_rotate_setting_turns_sideways_page_upright(client: ApiClient, page: Page) -> None:
    # GIVEN a page turned 90 degrees counter-clockwise, and Rotate=90 (the SDK sends the key as "Rotate")
    sideways = Image.fromarray(page.image).rotate(90, expand=True)
    buffer = io.BytesIO()
    sideways.save(buffer, format="PNG")
    settings = _settings("Text", Rotate=90)
    assert settings.to_dict()["Rotate"] == 90
    # WHEN recognized through the SDK
    response = _recognize(client, base64.b64encode(buffer.getvalue()).decode(), settings)
    # THEN the clockwise rotation restores readable text
    assert response.results is not None
    assert cer(page.text, base64.b64decode(str(response.results[0].data)).decode("utf-8")) < 0.02


def test_sdk_task_status_of_completed_task_has_no_results(client: ApiClient, page_b64: str) -> None:
    # GIVEN a completed binarization
    api = BinarizeImageApi(client)
    task_id = api.post_binarize_image(OCRBinarizeImageBody(image=page_b64))
    _wait(api.get_binarize_image, task_id)
    # WHEN its status is asked through UtilitiesApi
    status = UtilitiesApi(client).get_task_status(id=task_id)
    # THEN Completed/Ok without the result payload
    assert status.task_status == "Completed" and status.response_status_code == "Ok"
    assert status.results is None


def test_sdk_cancel_forgets_task(client: ApiClient, page_b64: str) -> None:
    # GIVEN a submitted recognition
    api = RecognizeImageApi(client)
    task_id = api.post_recognize_image(OCRRecognizeImageBody(image=page_b64, settings=_settings("Text")))
    # WHEN it is cancelled through the SDK
    assert api.cancel_recognize_image(id=task_id) is None
    # THEN the task no longer exists
    assert UtilitiesApi(client).get_task_status(id=task_id).task_status == "NotExist"


def test_sdk_deskew_straightens_rotated_page(client: ApiClient, page: Page) -> None:
    # GIVEN a page rotated by 5 degrees on a white canvas
    rotated = Image.fromarray(page.image).rotate(5, expand=True, fillcolor=(255, 255, 255))
    buffer = io.BytesIO()
    rotated.save(buffer, format="PNG")
    api = DeskewImageApi(client)
    # WHEN deskewed through the SDK
    task_id = api.post_deskew_image(OCRDeskewImageBody(image=base64.b64encode(buffer.getvalue()).decode()))
    response = _wait(api.get_deskew_image, task_id)
    # THEN a PNG comes back whose canvas grew (the rotation was undone onto a larger canvas)
    assert response.results is not None and response.results[0].type == "ImagePNG"
    width, height = _png_size(str(response.results[0].data))
    assert width > rotated.width and height > rotated.height


def _border_mean(image: np.ndarray) -> float:
    """Mean grey level of a band 3 % of the short side wide along the image's edges."""
    gray = np.asarray(Image.fromarray(image).convert("L"), np.float64)
    band = max(2, round(0.03 * min(gray.shape)))
    inner = gray[band:-band, band:-band]
    return float((gray.sum() - inner.sum()) / (gray.size - inner.size))


def test_sdk_dewarp_flattens_a_photographed_sheet_and_keeps_a_scan(client: ApiClient, page: Page) -> None:
    # GIVEN a phone photo of the page (the sheet in perspective on a darker desk) and the page itself
    photo, _ = photograph(page, np.random.default_rng(7))
    api = DewarpImageApi(client)
    outputs = []
    for image in (photo.image, page.image):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        # WHEN each is dewarped through the SDK
        task_id = api.post_dewarp_image(
            OCRDewarpImageBody(image=base64.b64encode(buffer.getvalue()).decode())
        )
        response = _wait(api.get_dewarp_image, task_id)
        assert response.results is not None and response.results[0].type == "ImagePNG"
        data = base64.b64decode(str(response.results[0].data))
        outputs.append(np.asarray(Image.open(io.BytesIO(data))))
    flat, scan = outputs
    # THEN the photo comes back as its sheet alone (smaller than the frame, paper up to its edges,
    # where the frame's edges were desk) and the scan as it was
    assert flat.shape[0] < photo.image.shape[0] and flat.shape[1] < photo.image.shape[1]
    assert _border_mean(flat) > _border_mean(photo.image) + 40
    assert scan.shape[:2] == page.image.shape[:2]
    assert np.array_equal(np.asarray(Image.fromarray(scan).convert("RGB")), page.image)


def test_sdk_upscale_doubles_size(client: ApiClient, page_b64: str) -> None:
    api = UpscaleImageApi(client)
    task_id = api.post_upscale_image(OCRUpscaleImageBody(image=page_b64))
    response = _wait(api.get_upscale_image, task_id)
    assert response.results is not None and _png_size(str(response.results[0].data)) == (1280, 600)


def test_sdk_unknown_id_deserializes_not_exist(client: ApiClient) -> None:
    unknown = str(uuid.uuid4())
    response = RecognizeImageApi(client).get_recognize_image(id=unknown)
    assert response.task_status == "NotExist" and response.response_status_code == "TaskNotFound"
    assert response.id == unknown and response.results is None


def test_sdk_failed_task_deserializes_error_messages(
    sdk_service: RunningService, client: ApiClient, page_b64: str
) -> None:
    # GIVEN every task fails
    sdk_service.set_faults(error_rate=1.0)
    try:
        api = BinarizeImageApi(client)
        task_id = api.post_binarize_image(OCRBinarizeImageBody(image=page_b64))
        response = _wait(api.get_binarize_image, task_id)
    finally:
        sdk_service.set_faults(error_rate=0.0)
    # THEN the SDK model shows Error with the messages
    assert response.task_status == "Error" and response.response_status_code == "Error"
    assert response.error is not None and response.error.messages


@pytest.mark.parametrize("token", [None, "abc.def.ghi"], ids=["missing", "invalid"])
def test_sdk_post_without_valid_token_raises_401_with_problem_details(
    sdk_service: RunningService, page_b64: str, token: str | None
) -> None:
    config = Configuration(host=sdk_service.base_url, access_token=token)
    with ApiClient(config) as api_client, pytest.raises(ApiException) as caught:
        BinarizeImageApi(api_client).post_binarize_image(OCRBinarizeImageBody(image=page_b64))
    # THEN 401, and the body deserializes into the SDK's ProblemDetails model
    assert caught.value.status == 401
    assert isinstance(caught.value.data, ProblemDetails) and caught.value.data.status == 401


def test_sdk_request_after_401_on_same_connection_succeeds(sdk_service: RunningService) -> None:
    # GIVEN a small POST (body shorter than a request line limit) rejected with 401 on a keep-alive connection
    body = OCRBinarizeImageBody(image=_small_png_b64())
    config = Configuration(host=sdk_service.base_url, access_token="expired.or.wrong")
    with ApiClient(config) as api_client:
        api = BinarizeImageApi(api_client)
        with pytest.raises(ApiException):
            api.post_binarize_image(body)
        # WHEN the client retries with a fresh token over the same pooled connection
        config.access_token = sdk_service.token()
        task_id = api.post_binarize_image(body)
    # THEN the retry is answered as a request of its own
    assert str(uuid.UUID(task_id)) == task_id


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (OCRRecognizeImageBody(image="@@not-base64@@", settings=_settings("Text")), 400),
        (
            OCRRecognizeImageBody(
                image=base64.b64encode(b"not an image").decode(), settings=_settings("Text")
            ),
            415,
        ),
        (
            OCRRecognizeImageBody(
                image="iVBORw0KGgo=", settings=_settings("Text", language=Language("German"))
            ),
            400,
        ),
    ],
    ids=["bad-base64", "not-an-image", "uninstalled-language"],
)
def test_sdk_bad_input_raises_client_error(
    client: ApiClient, body: OCRRecognizeImageBody, status: int
) -> None:
    with pytest.raises(ApiException) as caught:
        RecognizeImageApi(client).post_recognize_image(body)
    assert caught.value.status == status


def _token_form(svc: RunningService) -> str:
    """.NET (RestSharp) and Java (Oltu): form-urlencoded body with the credentials."""
    response = requests.post(
        f"{svc.base_url}/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": svc.client_id,
            "client_secret": svc.client_secret,
        },
        timeout=TIMEOUT,
    )
    token: str = response.json()["access_token"]
    return token


def _token_go_basic(svc: RunningService) -> str:
    """Go x/oauth2 clientcredentials: URL-escaped id and secret in HTTP Basic, grant type in the body."""
    pair = f"{urllib.parse.quote_plus(svc.client_id)}:{urllib.parse.quote_plus(svc.client_secret)}"
    response = requests.post(
        f"{svc.base_url}/connect/token",
        data="grant_type=client_credentials",
        headers={
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=TIMEOUT,
    )
    token: str = response.json()["access_token"]
    return token


def _token_python_24_8(svc: RunningService) -> str:
    """Python SDK 24.8 `get_token()`: urllib3 `fields=` (multipart) with its `ContentType` header typo."""
    response = urllib3.PoolManager().request(
        "POST",
        f"{svc.base_url}/connect/token",
        headers={
            "ContentType": "application/x-www-form-urlencoded",
            "Accept": "application/json;charset=UTF-8",
        },
        fields={
            "client_id": svc.client_id,
            "client_secret": svc.client_secret,
            "grant_type": "client_credentials",
        },
        timeout=10.0,
    )
    token: str = json.loads(response.data)["access_token"]
    return token


@pytest.mark.parametrize(
    "fetch_token",
    [_token_form, _token_go_basic, _token_python_24_8],
    ids=["form", "go-basic", "py-24.8-multipart"],
)
def test_token_from_each_sdk_flow_authorizes_sdk_calls(
    sdk_service: RunningService, fetch_token: Callable[[RunningService], str]
) -> None:
    # GIVEN a token obtained the way one official SDK asks for it (secret with URL-special characters)
    config = Configuration(host=sdk_service.base_url, access_token=fetch_token(sdk_service))
    # WHEN the 24.11 SDK uses it THEN the call is authorized
    with ApiClient(config) as api_client:
        assert UtilitiesApi(api_client).get_task_status(id=str(uuid.uuid4())).task_status == "NotExist"


def test_unsupported_method_answers_problem_json(sdk_service: RunningService) -> None:
    response = requests.patch(f"{sdk_service.base_url}/v5.0/ocr/BinarizeImage", timeout=TIMEOUT)
    assert response.status_code == 501 and response.headers["Content-Type"].startswith("application/json")
    assert response.json()["status"] == 501
