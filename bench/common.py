"""Shared helpers of the benchmarks: results files, machine facts, memory, OCR API access, the real scan."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any, NoReturn

import cv2
import numpy as np
from numpy.typing import NDArray

from bench.corpus import Page, Sample
from ocr_pipeline.adapters.ocr_api import AsposeOcrClient
from ocr_pipeline.adapters.secrets import ClientCredentials
from ocr_pipeline.domain.ports import OcrResponse

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TASK_DEADLINE_SECONDS = 120.0
FAST_POLL_SECONDS = 0.02

REAL_SCAN_TEXT = (
    "Region-based segmentation\n"
    "Let us first determine markers of the coins and the\n"
    "background. These markers are pixels that we can label\n"
    "unambiguously as either object or background. Here,\n"
    "the markers are found at the two extreme parts of the\n"
    "histogram of grey values:\n"
    ">>> markers = np.zeros_like(coins)"
)
"""Transcription of scikit-image's `data.page()` (the cut-off footer URL is left out)."""


Pixels = NDArray[Any]
"""An image as a NumPy array (H, W) or (H, W, C), uint8 unless said otherwise."""


class BenchError(RuntimeError):
    """A benchmark could not produce its measurement (a task never finished, an output is missing...)."""


def real_scan() -> Sample:
    """scikit-image's `data.page()` (a real camera scan, 384x191) with its transcription; no ink mask."""
    from skimage import data

    gray = np.asarray(data.page(), dtype=np.uint8)  # type: ignore[no-untyped-call]
    image = np.repeat(gray[:, :, None], 3, axis=2)
    blank = np.zeros(gray.shape, dtype=bool)
    page = Page(image=image, ink=blank, text=REAL_SCAN_TEXT, coverage=blank.astype(np.float32))
    return Sample(name="skimage-data-page", degradation="real_scan", page=page)


def png_bytes(image: Pixels) -> bytes:
    """Lossless PNG of an RGB or gray uint8 image."""
    converted = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", converted)
    if not ok:
        raise BenchError("PNG encoding failed")
    return bytes(data.tobytes())


def ocr_client(service: Any) -> AsposeOcrClient:
    """The pipeline's own OCR API client, pointed at `service`."""
    credentials = ClientCredentials(service.client_id, service.client_secret)
    return AsposeOcrClient(service.base_url, lambda: credentials, read_timeout=60.0)


def wait_task(
    client: AsposeOcrClient,
    task_id: str,
    *,
    deadline_seconds: float = TASK_DEADLINE_SECONDS,
    interval: float = FAST_POLL_SECONDS,
) -> tuple[OcrResponse, int]:
    """Poll `GetTaskStatus` every `interval` s until the task leaves Pending/Processing.

    Returns the final response and the number of status calls. Raises BenchError at the deadline.
    """
    deadline = time.monotonic() + deadline_seconds
    calls = 0
    while True:
        response = client.task_status(task_id)
        calls += 1
        if not response.task_status.running:
            return response, calls
        if time.monotonic() >= deadline:
            raise BenchError(f"task {task_id} still {response.task_status} after {deadline_seconds} s")
        time.sleep(interval)


def machine() -> dict[str, Any]:
    """The facts that qualify every figure: CPU model and count, Python, OS."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
    }


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory in MiB of this process (default) or of `pid` (from /proc VmHWM)."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return _proc_status_mb(pid, "VmHWM:")


def rss_mb(pid: int | None = None) -> float:
    """Current resident memory in MiB of this process (default) or of `pid` (from /proc VmRSS)."""
    return _proc_status_mb(os.getpid() if pid is None else pid, "VmRSS:")


def _proc_status_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return 0.0
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024.0
    return 0.0


def write_json(out_dir: Path, name: str, data: dict[str, Any]) -> Path:
    """Write `data` as `<out_dir>/<name>.json` (indented, sorted keys kept in insertion order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")
    return path


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (`<prog>: ...`) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def output_folder(text: str) -> Path:
    """argparse `type` of an `--out` folder: created at once, so an unusable path is a usage error
    before any benchmark has run, not a traceback after it."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot create folder {text!r}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"folder {text!r} is not writable")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
