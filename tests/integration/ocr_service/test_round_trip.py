"""Binarize over HTTP, feed the PNG to RecognizeImage, and compare the text with the truth."""

from __future__ import annotations

import base64
import json

from bench.corpus import Page
from bench.metrics import cer
from ocr_service.testing import RunningService
from tests.integration.ocr_service.conftest import submit, wait_done


def test_binarize_then_recognize_text_close_to_truth(
    service: RunningService, auth: dict[str, str], page: Page, page_b64: str
) -> None:
    # GIVEN a binarized page from the service
    task_id = submit(service.base_url, "BinarizeImage", {"image": page_b64}, auth).text
    png_b64 = wait_done(service.base_url, "BinarizeImage", task_id, auth)["results"][0]["data"]
    # WHEN it is recognized
    settings = {"language": "English", "resultType": "Text", "makeSkewCorrect": False}
    task_id = submit(service.base_url, "RecognizeImage", {"image": png_b64, "settings": settings}, auth).text
    body = wait_done(service.base_url, "RecognizeImage", task_id, auth)
    # THEN the text is close to the rendered truth
    text = base64.b64decode(body["results"][0]["data"]).decode("utf-8")
    assert cer(page.text, text) < 0.02


def test_recognize_json_result_has_blocks_with_coordinates(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    task_id = submit(
        service.base_url, "RecognizeImage", {"image": page_b64, "settings": {"resultType": "JSON"}}, auth
    ).text
    body = wait_done(service.base_url, "RecognizeImage", task_id, auth)
    blocks = json.loads(base64.b64decode(body["results"][0]["data"]))["blocks"]
    assert blocks and {"topLeftX", "topLeftY", "bottomRightX", "bottomRightY", "text", "lines"} <= set(
        blocks[0]
    )


def test_recognize_text_and_hocr_returns_two_results(
    service: RunningService, auth: dict[str, str], page_b64: str
) -> None:
    task_id = submit(
        service.base_url,
        "RecognizeImage",
        {"image": page_b64, "settings": {"resultType": "TextAndHocr"}},
        auth,
    ).text
    body = wait_done(service.base_url, "RecognizeImage", task_id, auth)
    assert [r["type"] for r in body["results"]] == ["Text", "Hocr"]
    assert b"ocr_page" in base64.b64decode(body["results"][1]["data"])


def test_recognize_regions_in_order(
    service: RunningService, auth: dict[str, str], page: Page, page_b64: str
) -> None:
    # GIVEN two regions: the second text line first (order 0), then the first line (order 1)
    lines = page.text.split("\n")
    pitch, margin = round(22 * 1.6), 640 // 16

    def rect(i: int) -> dict[str, int]:
        return {
            "topLeftX": 0,
            "topLeftY": margin + i * pitch - 4,
            "bottomRightX": 640,
            "bottomRightY": margin + (i + 1) * pitch - 4,
        }

    regions = [{"rect": rect(0), "order": 1}, {"rect": rect(1), "order": 0}]
    settings = {"regions": regions, "makeSkewCorrect": False}
    task_id = submit(service.base_url, "RecognizeImage", {"image": page_b64, "settings": settings}, auth).text
    text = base64.b64decode(
        wait_done(service.base_url, "RecognizeImage", task_id, auth)["results"][0]["data"]
    ).decode()
    # THEN the text follows the order field
    assert cer(lines[1] + "\n" + lines[0], text) < 0.05
