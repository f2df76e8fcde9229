"""Per-request limits checked before any work is queued: JSON shape, form size and work budget.

Each violation is a `BadRequestError` carrying its 4xx status, so the HTTP layer answers it with a
ProblemDetails body; nothing here can raise anything else for hostile input.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ocr_service.requests_model import (
    BadRequestError,
    check_image_header,
    decode_image_field,
    lower_keys,
    parse_recognize_settings,
)

UPSAMPLING_FACTOR = 4
"""Pixels of work per input pixel with `makeUpsampling` (2x in each direction)."""


@dataclass(frozen=True)
class RequestLimits:
    """Limits on the shape of one request (see the README's table for the defaults)."""

    max_json_depth: int
    max_number_digits: int
    max_form_fields: int
    max_regions: int
    max_work_pixels: int
    max_bytes: int
    max_pixels: int


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when lists/dicts in a parsed JSON value nest deeper than `limit` (iterative, linear)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def load_json_object(raw: bytes, limits: RequestLimits) -> dict[str, Any]:
    """Parse a JSON object body (keys lower-cased) within the depth and number-size limits.

    The C parser itself stops deep nesting at the interpreter's recursion limit (RecursionError,
    answered 400), so the configured depth is checked on the parsed value.
    """
    digits = limits.max_number_digits

    def bounded_int(text: str) -> int:
        if len(text) > digits:
            raise BadRequestError(f"JSON number with more than {digits} digits")
        return int(text)

    def bounded_float(text: str) -> float:
        if len(text) > digits:
            raise BadRequestError(f"JSON number with more than {digits} digits")
        return float(text)

    def no_constant(text: str) -> Any:
        raise BadRequestError(f"request body is not valid JSON: {text} is not a JSON value")

    try:
        data = json.loads(raw, parse_int=bounded_int, parse_float=bounded_float, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadRequestError(f"JSON nested too deeply (more than {limits.max_json_depth} levels)") from exc
    if depth_exceeds(data, limits.max_json_depth):
        raise BadRequestError(f"JSON nested too deeply (more than {limits.max_json_depth} levels)")
    if not isinstance(data, dict):
        raise BadRequestError("request body must be a JSON object")
    result: dict[str, Any] = lower_keys(data)
    return result


def parse_form(body: bytes, limits: RequestLimits) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict, within the field-count limit."""
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), max_num_fields=limits.max_form_fields)
    except ValueError as exc:
        raise BadRequestError(f"form has more than {limits.max_form_fields} fields") from exc
    return dict(pairs)


def _rotated_size(width: int, height: int, degrees: int) -> tuple[int, int]:
    """Canvas size after rotating by `degrees` with the canvas grown to fit (as `rotate` does)."""
    if degrees % 90 == 0:
        return (height, width) if degrees % 180 else (width, height)
    angle = math.radians(degrees % 360)
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    return math.ceil(width * cos + height * sin), math.ceil(width * sin + height * cos)


def work_pixels(operation: str, body: dict[str, Any], limits: RequestLimits) -> int:
    """Pixels the engines will process for this request (regions x pixels x upsampling).

    Validates the image field and header on the way (same errors as the operation itself). Image
    operations cost the image's pixels; RecognizeImage costs each region (or the whole rotated page)
    once, four times with upsampling (capped by the upscale output limit).
    """
    data = decode_image_field(body, limits.max_bytes)
    width, height = check_image_header(data, limits.max_pixels)
    if operation != "RecognizeImage":
        return width * height
    settings = parse_recognize_settings(body)
    if len(settings.regions) > limits.max_regions:
        raise BadRequestError(
            f"{len(settings.regions)} regions are more than the limit of {limits.max_regions}", 413
        )
    page_w, page_h = _rotated_size(width, height, settings.rotate)
    areas = [
        max(0, min(r.x1, page_w) - min(r.x0, page_w)) * max(0, min(r.y1, page_h) - min(r.y0, page_h))
        for r in settings.regions
    ] or [page_w * page_h]
    factor = UPSAMPLING_FACTOR if settings.make_upsampling else 1
    return sum(max(area, min(area * factor, limits.max_pixels)) for area in areas)


def check_work(operation: str, body: dict[str, Any], limits: RequestLimits) -> int:
    """`work_pixels`, or BadRequestError(413) when it is over the per-request budget."""
    work = work_pixels(operation, body, limits)
    if work > limits.max_work_pixels:
        raise BadRequestError(
            f"request needs {work} pixels of work (regions x pixels x upsampling), above the limit "
            f"of {limits.max_work_pixels}",
            413,
        )
    return work
