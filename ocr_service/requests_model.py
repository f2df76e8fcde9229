"""Validation of Aspose v5 request bodies (case-insensitive keys) and of the image they carry."""

from __future__ import annotations

import base64
import binascii
import io
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ocr_service.enums import DSR_CONFIDENCE, DSR_MODE, LANGUAGE, RESULT_TYPE, RESULT_TYPE_TABLE

FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "GIF"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)

_ANNEX_K_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
).ravel()
"""The JPEG standard's example luminance table (ITU-T T.81 Annex K.1), in natural (row) order as
Pillow's `Image.quantization` gives it; IJG libjpeg scales it by the quality setting."""


class BadRequestError(Exception):
    """The request is invalid; `status` is the HTTP status to answer with (400, 413, 415)."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Region:
    """A rectangle to recognize (pixels, bottom-right exclusive) and its place in the output."""

    x0: int
    y0: int
    x1: int
    y1: int
    order: int


@dataclass(frozen=True)
class RecognizeSettings:
    """The honoured subset of `OCRSettingsRecognizeImage` (defaults as in the OpenAPI schema)."""

    language: str = "English"
    make_skew_correct: bool = True
    make_binarization: bool = False
    make_upsampling: bool = False
    make_contrast_correction: bool = False
    make_spell_check: bool = False
    rotate: int = 0
    dsr_mode: str = "Regions"
    dsr_confidence: str = "Default"
    result_type: str = "Text"
    regions: list[Region] = field(default_factory=list)


def lower_keys(value: Any, depth: int = 0) -> Any:
    """Lower-case every dict key, recursively (bounded depth), so `Rotate` and `rotate` match."""
    if depth > 8:
        raise BadRequestError("JSON nested too deeply")
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v, depth + 1) for v in value]
    return value


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object body with lower-cased keys. Raises BadRequestError."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequestError("request body must be a JSON object")
    result: dict[str, Any] = lower_keys(data)
    return result


def decode_image_field(body: dict[str, Any], max_bytes: int) -> bytes:
    """The `image` field's bytes. Raises BadRequestError (missing, not base64, empty, too big)."""
    value = body.get("image")
    if value is None or value == "":
        raise BadRequestError("field 'image' is required (base64-encoded image bytes)")
    if not isinstance(value, str):
        raise BadRequestError("field 'image' must be a base64 string")
    if len(value) > (max_bytes * 4) // 3 + 4:
        raise BadRequestError(f"image is larger than the limit of {max_bytes} bytes", 413)
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequestError(f"field 'image' is not valid base64: {exc}") from exc
    if not data:
        raise BadRequestError("field 'image' is empty")
    if len(data) > max_bytes:
        raise BadRequestError(f"image is larger than the limit of {max_bytes} bytes", 413)
    return data


def sniff_format(data: bytes) -> str:
    """Image format from magic bytes. Raises BadRequestError(415) for anything not supported."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    raise BadRequestError(
        "unsupported or unrecognised image format (supported: PNG, JPEG, TIFF, BMP, GIF)", 415
    )


def check_image_header(data: bytes, max_pixels: int) -> tuple[int, int]:
    """Read only the header: returns (width, height). Raises BadRequestError (bad, empty, too many px)."""
    kind = sniff_format(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                frames = getattr(image, "n_frames", 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadRequestError(f"image has too many pixels (limit {max_pixels})", 413) from exc
    except Exception as exc:
        raise BadRequestError(f"cannot read the {kind} image: {exc}") from exc
    if width <= 0 or height <= 0:
        raise BadRequestError("image is empty (zero width or height)")
    if width * height > max_pixels:
        raise BadRequestError(f"image has {width * height} pixels, above the limit of {max_pixels}", 413)
    if kind == "TIFF" and frames > 1:
        raise BadRequestError("multi-page TIFF is not supported; send one page per request", 415)
    return width, height


def load_rgb(data: bytes) -> NDArray[Any]:
    """Decode (after `check_image_header`) into RGB uint8; transparency is composited on white."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        if image.mode in ("I;16", "I;16B", "I", "F"):
            values = np.asarray(image, dtype=np.float32)
            span = max(float(values.max() - values.min()), 1e-6)
            gray = ((values - values.min()) * (255.0 / span)).astype(np.uint8)
            return np.repeat(gray[:, :, None], 3, axis=2)
        return np.asarray(image.convert("RGB"))


def jpeg_quality(data: bytes) -> int | None:
    """The IJG quality (1-100) a JPEG's luminance quantisation table corresponds to; None when
    `data` is not a JPEG or carries no table.

    Each table entry of an IJG encoder at quality q is the Annex K entry scaled by 5000 / q (q < 50)
    or 200 - 2 q (q >= 50), rounded and clamped to 1..255; the scale is read back as the ratio of
    the sums over the entries that were not clamped. Tables of other encoders (cameras, editors)
    give the IJG quality of the same overall step size.
    """
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            tables = getattr(image, "quantization", None) or {}
    except Exception:
        return None
    if 0 not in tables or len(tables[0]) != _ANNEX_K_LUMINANCE.size:
        return None
    table = np.asarray(tables[0], dtype=np.float64)
    scaled = (table > 1) & (table < 255)
    if not scaled.any():
        return 1 if table.min() >= 255 else 100
    scale = 100.0 * float(table[scaled].sum() / _ANNEX_K_LUMINANCE[scaled].sum())
    quality = 5000.0 / scale if scale > 100.0 else (200.0 - scale) / 2.0
    return min(100, max(1, round(quality)))


def _enum(settings: dict[str, Any], key: str, allowed: frozenset[str], default: str) -> str:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise BadRequestError(f"settings.{key}: unknown value {value!r}")
    return value


def _bool(settings: dict[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequestError(f"settings.{key} must be true or false")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise BadRequestError(f"{name} must be a 32-bit integer")
    return value


def _regions(value: Any) -> list[Region]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 1000:
        raise BadRequestError("settings.regions must be null or a list of at most 1000 regions")
    regions: list[Region] = []
    for index, item in enumerate(value):
        rect = item.get("rect") if isinstance(item, dict) else None
        if not isinstance(rect, dict):
            raise BadRequestError(f"settings.regions[{index}].rect is required")
        coords = [
            _int(rect.get(k), f"regions[{index}].rect.{k}")
            for k in ("topleftx", "toplefty", "bottomrightx", "bottomrighty")
        ]
        if coords[0] >= coords[2] or coords[1] >= coords[3] or min(coords) < 0:
            raise BadRequestError(f"settings.regions[{index}].rect is empty or negative")
        order = _int(item.get("order", index), f"regions[{index}].order")
        regions.append(Region(coords[0], coords[1], coords[2], coords[3], order=order))
    return sorted(regions, key=lambda r: r.order)


def parse_recognize_settings(body: dict[str, Any]) -> RecognizeSettings:
    """Validate `settings` of a RecognizeImage body. Raises BadRequestError on any invalid field."""
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise BadRequestError("field 'settings' must be an object")
    defaults = RecognizeSettings()
    rotate = settings.get("rotate")
    _enum(settings, "resulttypetable", RESULT_TYPE_TABLE, "Text")
    return RecognizeSettings(
        language=_enum(settings, "language", LANGUAGE, defaults.language),
        make_skew_correct=_bool(settings, "makeskewcorrect", defaults.make_skew_correct),
        make_binarization=_bool(settings, "makebinarization", defaults.make_binarization),
        make_upsampling=_bool(settings, "makeupsampling", defaults.make_upsampling),
        make_contrast_correction=_bool(settings, "makecontrastcorrection", defaults.make_contrast_correction),
        make_spell_check=_bool(settings, "makespellcheck", defaults.make_spell_check),
        rotate=0 if rotate is None else _int(rotate, "settings.Rotate"),
        dsr_mode=_enum(settings, "dsrmode", DSR_MODE, defaults.dsr_mode),
        dsr_confidence=_enum(settings, "dsrconfidence", DSR_CONFIDENCE, defaults.dsr_confidence),
        result_type=_enum(settings, "resulttype", RESULT_TYPE, defaults.result_type),
        regions=_regions(settings.get("regions")),
    )
