"""OCR accuracy through the OCR service's HTTP API (what the pipeline gets), per degradation.

Columns, for every corpus image:

* `raw`: RecognizeImage on the original without `makeBinarization`; the service then lets Tesseract use
  its internal Sauvola thresholding (the service has no switch to change that);
* `binarized`: BinarizeImage, then RecognizeImage on the returned PNG (the pipeline's `endpoint` mode);
* `engine_otsu`: Tesseract called directly with its default global Otsu thresholding (no service switch
  selects it), i.e. recognition with no local binarization at all;
* `ink_mask`: RecognizeImage on the page's exact ink mask (0/255 PNG), what a perfect binarizer would
  hand over: where it reads worse than `raw`, no binarizer can close the gap (pages without a known
  mask, the real scan, have no value).

Each image is sent as users send it: a page that exists as a file (the `jpeg` degradation's JPEG,
`Page.encoded`) as those bytes, so the service sees the JPEG's quantisation; every other page as PNG.

The pipeline's `inline` mode (RecognizeImage with `makeBinarization`) runs the same binarizer inside the
service, so it is not measured separately. API cost is counted in OCR tasks per image (each task is one
POST, at least one status check and one result GET): `raw` 1, `binarized` 2. Status checks here use a
fast 20 ms poll; how many a Wait-state schedule makes is the polling benchmark's subject.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from bench.common import BenchError, ocr_client, png_bytes, wait_task
from bench.corpus import Sample
from bench.metrics import cer
from ocr_pipeline.adapters.ocr_api import AsposeOcrClient
from ocr_pipeline.domain.binarization import image_stats
from ocr_pipeline.domain.ports import TaskStatus
from ocr_service.engines.recognize import THRESHOLD_OTSU, TesseractRecognizer

COLUMNS = ("raw", "binarized", "engine_otsu", "ink_mask")
TASKS = {"raw": 1, "binarized": 2}
LANGUAGE = "English"
MAX_THREADS = 3


@dataclass(frozen=True)
class ImageResult:
    """CER (0..1+) of each column for one image and its `auto` statistics."""

    name: str
    degradation: str
    cer: dict[str, float]
    stats: dict[str, float]


def _recognize(client: AsposeOcrClient, data: bytes) -> str:
    task_id = client.submit_recognition(data, language=LANGUAGE, make_binarization=False)
    response, _ = wait_task(client, task_id)
    if response.task_status is not TaskStatus.COMPLETED:
        raise BenchError(f"recognition task {task_id} ended {response.task_status}")
    return client.recognition_result(task_id)


def _binarized(client: AsposeOcrClient, data: bytes) -> str:
    task_id = client.submit_binarization(data)
    response, _ = wait_task(client, task_id)
    if response.task_status is not TaskStatus.COMPLETED:
        raise BenchError(f"binarization task {task_id} ended {response.task_status}")
    return _recognize(client, client.binarization_result(task_id))


def request_bytes(sample: Sample) -> bytes:
    """The file a user would send for `sample`: the page's own encoded bytes when it has them, else PNG."""
    return sample.page.encoded or png_bytes(sample.page.image)


def measure(sample: Sample, client: AsposeOcrClient, engine: TesseractRecognizer) -> ImageResult:
    """Every column for one image."""
    data = request_bytes(sample)
    texts = {
        "raw": _recognize(client, data),
        "binarized": _binarized(client, data),
        "engine_otsu": engine.recognize(sample.page.image, thresholding=THRESHOLD_OTSU).text,
    }
    if sample.page.ink.any():
        texts["ink_mask"] = _recognize(client, png_bytes(np.where(sample.page.ink, 0, 255).astype(np.uint8)))
    stats = image_stats(Image.open(io.BytesIO(data)))
    return ImageResult(
        name=sample.name,
        degradation=sample.degradation,
        cer={column: cer(sample.page.text, text) for column, text in texts.items()},
        stats={name: float(value) for name, value in asdict(stats).items()},
    )


def measure_all(samples: Sequence[Sample], service: Any, threads: int = MAX_THREADS) -> list[ImageResult]:
    """`measure` every sample, `threads` at a time (one API client per task; results in input order)."""
    engine = TesseractRecognizer()

    def one(sample: Sample) -> ImageResult:
        return measure(sample, ocr_client(service), engine)

    with ThreadPoolExecutor(max_workers=max(1, min(threads, MAX_THREADS))) as pool:
        return list(pool.map(one, samples))


def summarise(results: Sequence[ImageResult]) -> dict[str, Any]:
    """Mean CER (%) per degradation and column, and the mean over the degraded synthetic pages."""
    by_degradation: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        for column, value in result.cer.items():
            by_degradation[result.degradation][column].append(value)
    table = {
        deg: {column: 100.0 * float(np.mean(values)) for column, values in row.items()}
        for deg, row in by_degradation.items()
    }
    degraded = [r for r in results if r.degradation not in ("clean", "real_scan")]
    mean_degraded = {
        column: 100.0 * float(np.mean([r.cer[column] for r in degraded if column in r.cer]))
        if degraded
        else 0.0
        for column in COLUMNS
    }
    return {
        "columns": list(COLUMNS),
        "cer_percent": table,
        "mean_cer_degraded_percent": mean_degraded,
        "ocr_tasks_per_image": dict(TASKS),
        "images": len(results),
        "per_image": [asdict(r) for r in results],
    }
