"""Unit tests of request validation, settings and tokens."""

from __future__ import annotations

import base64

import pytest

from ocr_service.auth import TokenIssuer, parse_basic
from ocr_service.config import FaultSettings, ServiceSettings, SettingsError
from ocr_service.requests_model import (
    BadRequestError,
    check_image_header,
    decode_image_field,
    lower_keys,
    parse_recognize_settings,
    sniff_format,
)


def test_lower_keys_makes_rotate_case_insensitive() -> None:
    assert lower_keys({"Settings": {"Rotate": 90}}) == {"settings": {"rotate": 90}}


def test_parse_settings_defaults_follow_openapi() -> None:
    settings = parse_recognize_settings({"settings": {"regions": None}})
    assert settings.make_skew_correct and not settings.make_binarization and settings.result_type == "Text"


def test_parse_settings_regions_sorted_by_order() -> None:
    rect = {"topleftx": 0, "toplefty": 0, "bottomrightx": 10, "bottomrighty": 10}
    settings = parse_recognize_settings(
        {"settings": {"regions": [{"rect": rect, "order": 2}, {"rect": rect, "order": 1}]}}
    )
    assert [r.order for r in settings.regions] == [1, 2]


def test_decode_image_field_over_limit_is_413() -> None:
    with pytest.raises(BadRequestError) as info:
        decode_image_field({"image": base64.b64encode(b"x" * 5000).decode()}, max_bytes=1024)
    assert info.value.status == 413


def test_sniff_format_unknown_is_415() -> None:
    with pytest.raises(BadRequestError) as info:
        sniff_format(b"RIFF....WEBP")
    assert info.value.status == 415


def test_check_image_header_too_many_pixels_is_413() -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (100, 100)).save(buffer, format="PNG")
    with pytest.raises(BadRequestError) as info:
        check_image_header(buffer.getvalue(), max_pixels=5000)
    assert info.value.status == 413


def test_service_settings_rejects_zero_workers() -> None:
    with pytest.raises(SettingsError, match="workers"):
        ServiceSettings(workers=0)


def test_fault_settings_rejects_rate_above_one() -> None:
    with pytest.raises(SettingsError, match="error_rate"):
        FaultSettings.from_mapping({"error_rate": 1.5})


def test_token_expired_is_rejected() -> None:
    now = [1000.0]
    issuer = TokenIssuer("id", "secret", ttl_seconds=10, clock=lambda: now[0])
    token = issuer.issue().access_token
    assert issuer.verify(token)
    now[0] += 11
    assert not issuer.verify(token)


def test_token_tampered_is_rejected() -> None:
    issuer = TokenIssuer("id", "secret", ttl_seconds=10)
    token = issuer.issue().access_token
    assert not issuer.verify("9" + token)


def test_parse_basic_decodes_url_encoded_credentials() -> None:
    header = "Basic " + base64.b64encode(b"my%20id:s%3Acret").decode()
    assert parse_basic(header) == ("my id", "s:cret")
