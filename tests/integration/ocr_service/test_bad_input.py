"""Invalid requests get a 4xx ProblemDetails with a clear detail (never a 500, never a hung task)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from ocr_service.testing import RunningService
from tests.integration.ocr_service.conftest import TIMEOUT, png_b64, submit, wait_done


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (IDAT is bogus: it must never be decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _tiff_two_pages() -> str:
    buffer = io.BytesIO()
    frames = [Image.new("L", (20, 20), 255), Image.new("L", (20, 20), 0)]
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:])
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 400, "image"),
        ({"image": "@@not-base64@@"}, 400, "base64"),
        ({"image": base64.b64encode(b"hello, not an image").decode()}, 415, "format"),
        ({"image": base64.b64encode(b"%PDF-1.4 fake").decode()}, 415, "format"),
        ({"image": base64.b64encode(_bomb_png(100_000, 100_000)).decode()}, 413, "pixels"),
        ({"image": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 30).decode()}, 400, "cannot read"),
        ({"image": "", "settings": None}, 400, "image"),
    ],
    ids=["missing", "bad-base64", "not-image", "pdf", "decompression-bomb", "truncated-png", "empty"],
)
def test_post_bad_image_returns_problem(
    service: RunningService, auth: dict[str, str], body: dict[str, Any], status: int, fragment: str
) -> None:
    response = submit(service.base_url, "BinarizeImage", body, auth)
    assert response.status_code == status
    assert fragment in response.json()["detail"]


def test_post_malformed_json_returns_400(service: RunningService, auth: dict[str, str]) -> None:
    response = requests.post(
        service.base_url + "/v5.0/ocr/RecognizeImage",
        data=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"language": "Klingon"}, "unknown value"),
        ({"language": "German"}, "not installed"),
        ({"resultType": "Docx"}, "unknown value"),
        ({"resultType": "Pdf"}, "pdf.ttf"),
        ({"dsrMode": "Magic"}, "unknown value"),
        ({"makeBinarization": "yes"}, "true or false"),
        ({"Rotate": "ninety"}, "integer"),
        ({"regions": [{"rect": {"topLeftX": 5}}]}, "integer"),
    ],
    ids=[
        "unknown-language",
        "uninstalled-language",
        "unknown-result",
        "pdf",
        "dsr",
        "bool",
        "rotate",
        "region",
    ],
)
def test_recognize_bad_settings_returns_400(
    service: RunningService, auth: dict[str, str], page_b64: str, settings: dict[str, Any], fragment: str
) -> None:
    response = submit(service.base_url, "RecognizeImage", {"image": page_b64, "settings": settings}, auth)
    assert response.status_code == 400 and fragment in response.json()["detail"]


def test_multipage_tiff_returns_415(service: RunningService, auth: dict[str, str]) -> None:
    response = submit(service.base_url, "BinarizeImage", {"image": _tiff_two_pages()}, auth)
    assert response.status_code == 415 and "multi-page" in response.json()["detail"]


def test_body_over_limit_returns_413() -> None:
    from ocr_service.testing import start_service

    with start_service(max_bytes=2048) as svc:
        big = base64.b64encode(b"\x89PNG" + b"\0" * 100_000).decode()
        response = submit(
            svc.base_url, "BinarizeImage", {"image": big}, {"Authorization": f"Bearer {svc.token()}"}
        )
    assert response.status_code == 413


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "BMP", "GIF"])
def test_supported_formats_complete(service: RunningService, auth: dict[str, str], fmt: str) -> None:
    image = np.full((40, 60, 3), 255, np.uint8)
    image[10:30, 10:50] = 0
    task_id = submit(service.base_url, "BinarizeImage", {"image": png_b64(image, fmt)}, auth).text
    assert wait_done(service.base_url, "BinarizeImage", task_id, auth)["taskStatus"] == "Completed"


def test_unknown_route_returns_404(service: RunningService, auth: dict[str, str]) -> None:
    # an Aspose v5 operation this service does not emulate
    url = service.base_url + "/v5.0/ocr/RecognizeReceipt?id=x"
    response = requests.get(url, headers=auth, timeout=TIMEOUT)
    assert response.status_code == 404 and response.json()["status"] == 404
