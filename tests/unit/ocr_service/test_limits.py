"""Unit tests of the per-request limits: JSON depth and numbers, form fields, work budget."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from ocr_service.limits import RequestLimits, check_work, depth_exceeds, load_json_object, parse_form
from ocr_service.requests_model import BadRequestError

LIMITS = RequestLimits(
    max_json_depth=8,
    max_number_digits=32,
    max_form_fields=16,
    max_regions=64,
    max_work_pixels=10_000_000,
    max_bytes=1 << 20,
    max_pixels=60_000_000,
)


def _png_b64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 255, np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _region(size: int, order: int = 0) -> dict[str, object]:
    return {
        "rect": {"topleftx": 0, "toplefty": 0, "bottomrightx": size, "bottomrighty": size},
        "order": order,
    }


def test_depth_counts_containers_not_brackets_inside_strings() -> None:
    assert not depth_exceeds({"a": "[[[[[[[[[[[[{{{{{{{{", "b": [1, [2]]}, 3)
    assert depth_exceeds({"a": [[[1]]]}, 3)


def test_load_json_object_depth_over_limit_is_400() -> None:
    with pytest.raises(BadRequestError, match="deep"):
        load_json_object(b'{"a": [[[[[[[[1]]]]]]]]}', LIMITS)


def test_load_json_object_many_escaped_quotes_is_fast() -> None:
    # GIVEN an unterminated string of 400,000 escaped quotes (quadratic for a naive regex scan)
    started = time.monotonic()
    with pytest.raises(BadRequestError, match="not valid JSON"):
        load_json_object(b'{"image": "' + b'\\"' * 200_000, LIMITS)
    assert time.monotonic() - started < 1.0


def test_load_json_object_deep_nesting_is_400() -> None:
    with pytest.raises(BadRequestError, match="deep") as info:
        load_json_object(b"[" * 100_000 + b"]" * 100_000, LIMITS)
    assert info.value.status == 400


@pytest.mark.parametrize("number", [b"7" * 5000, b"1." + b"0" * 100, b"-" + b"9" * 40])
def test_load_json_object_long_number_is_400(number: bytes) -> None:
    with pytest.raises(BadRequestError, match="digits"):
        load_json_object(b'{"rotate": ' + number + b"}", LIMITS)


def test_load_json_object_rejects_nan() -> None:
    with pytest.raises(BadRequestError, match="not valid JSON"):
        load_json_object(b'{"rotate": NaN}', LIMITS)


def test_load_json_object_lower_cases_keys() -> None:
    assert load_json_object(b'{"Settings": {"Rotate": 90}}', LIMITS) == {"settings": {"rotate": 90}}


def test_parse_form_over_field_limit_is_400() -> None:
    body = "&".join(f"f{i}=v" for i in range(25)).encode()
    with pytest.raises(BadRequestError, match="fields") as info:
        parse_form(body, LIMITS)
    assert info.value.status == 400


def test_work_of_regions_with_upsampling_over_budget_is_413() -> None:
    # GIVEN 1000x1000 page, 3 full-page regions upsampled: 3 x 4 MPix = 12 MPix > 10 MPix
    body = {
        "image": _png_b64(1000, 1000),
        "settings": {"makeupsampling": True, "regions": [_region(1000, i) for i in range(3)]},
    }
    with pytest.raises(BadRequestError, match="work") as info:
        check_work("RecognizeImage", body, LIMITS)
    assert info.value.status == 413


def test_work_without_upsampling_within_budget_is_counted() -> None:
    body = {"image": _png_b64(1000, 1000), "settings": {"regions": [_region(1000, i) for i in range(3)]}}
    assert check_work("RecognizeImage", body, LIMITS) == 3_000_000


def test_regions_are_clipped_to_the_rotated_page() -> None:
    body = {"image": _png_b64(400, 100), "settings": {"rotate": 90, "regions": [_region(1000)]}}
    assert check_work("RecognizeImage", body, LIMITS) == 100 * 400


def test_too_many_regions_is_413() -> None:
    body = {"image": _png_b64(10, 10), "settings": {"regions": [_region(5, i) for i in range(65)]}}
    with pytest.raises(BadRequestError, match="regions") as info:
        check_work("RecognizeImage", body, LIMITS)
    assert info.value.status == 413
