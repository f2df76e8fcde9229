"""Binarization and recognition evaluation on the generated corpus.

Usage: `python -m bench.binarization_eval [--quick] [--out FILE.md]`

Prints Markdown tables: per degradation, ink F-measure of our binarizer next to OpenCV Otsu,
OpenCV adaptiveThreshold (mean, Gaussian) and scikit-image Sauvola; speed (MPix/s) on an A4 300 dpi
page; Tesseract CER raw (its Otsu), with its internal Sauvola, and after each binarizer.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.filters import threshold_sauvola

from bench.common import Parser
from bench.corpus import A4_300DPI, corpus, degrade, make_page
from bench.metrics import cer, f_measure
from ocr_service.engines.binarize import binarize, to_gray
from ocr_service.engines.recognize import THRESHOLD_OTSU, THRESHOLD_SAUVOLA, TesseractRecognizer

Method = Callable[[NDArray[Any]], NDArray[Any]]


def _otsu(image: NDArray[Any]) -> NDArray[Any]:
    return cv2.threshold(to_gray(image), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _adaptive_mean(image: NDArray[Any]) -> NDArray[Any]:
    return cv2.adaptiveThreshold(to_gray(image), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 10)


def _adaptive_gauss(image: NDArray[Any]) -> NDArray[Any]:
    return cv2.adaptiveThreshold(
        to_gray(image), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 10
    )


def _sk_sauvola(image: NDArray[Any]) -> NDArray[Any]:
    gray = to_gray(image)
    threshold = threshold_sauvola(gray, window_size=31, k=0.2)  # type: ignore[no-untyped-call]
    return np.where(gray > threshold, 255, 0).astype(np.uint8)


METHODS: dict[str, Method] = {
    "ours (stroke-width scaled)": binarize,
    "OpenCV Otsu": _otsu,
    "OpenCV adaptive mean (31, C=10)": _adaptive_mean,
    "OpenCV adaptive Gaussian (31, C=10)": _adaptive_gauss,
    "skimage Sauvola (31, k=0.2)": _sk_sauvola,
}


def speed(method: Method, image: NDArray[Any], repeats: int = 3) -> float:
    """Best-of-`repeats` throughput in MPix/s."""
    method(image)
    best = min(_timed(method, image) for _ in range(repeats))
    return float(image.shape[0] * image.shape[1] / 1e6 / best)


def _timed(method: Method, image: NDArray[Any]) -> float:
    start = time.perf_counter()
    method(image)
    return time.perf_counter() - start


def _table(
    title: str, rows: dict[str, dict[str, list[float]]], columns: list[str], *, scale: float, digits: int
) -> list[str]:
    """A Markdown table of per-degradation means, with a bold mean over the degraded pages last."""
    lines = [f"### {title}", "", "| degradation | " + " | ".join(columns) + " |"]
    lines.append("|---" * (len(columns) + 1) + "|")
    degraded: dict[str, list[float]] = defaultdict(list)
    for deg, row in rows.items():
        lines.append(
            f"| {deg} | " + " | ".join(f"{scale * np.mean(row[c]):.{digits}f}" for c in columns) + " |"
        )
        if deg != "clean":
            for c in columns:
                degraded[c] += row[c]
    means = " | ".join(f"**{scale * np.mean(degraded[c]):.{digits}f}**" for c in columns)
    lines.append(f"| **mean of degraded** | {means} |")
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = Parser(prog="python -m bench.binarization_eval", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 pages instead of 6; CER on 2 pages always")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args(argv)
    names = list(METHODS)
    fm: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in corpus(quick=args.quick):
        for name in names:
            fm[sample.degradation][name].append(
                f_measure(METHODS[name](sample.page.image) == 0, sample.page.ink)
            )
    a4 = degrade(make_page(5, width=A4_300DPI[0], height=A4_300DPI[1], font="serif", font_px=42), "shadow", 5)
    mpix = {name: speed(METHODS[name], a4.image) for name in names}

    engine = TesseractRecognizer()
    configs: dict[str, Callable[[NDArray[Any]], str]] = {
        "Tesseract raw (Otsu)": lambda im: engine.recognize(im, thresholding=THRESHOLD_OTSU).text,
        "Tesseract internal Sauvola": lambda im: engine.recognize(im, thresholding=THRESHOLD_SAUVOLA).text,
    }
    for name in names:
        configs[f"after {name}"] = lambda im, m=METHODS[name]: engine.recognize(m(im)).text  # type: ignore[misc]
    ocr: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in corpus(quick=True):
        for label, run in configs.items():
            ocr[sample.degradation][label].append(cer(sample.page.text, run(sample.page.image)))

    lines = _table("Ink F-measure (0-100) per degradation", fm, names, scale=1.0, digits=1)
    lines.append("| MPix/s, A4 300 dpi | " + " | ".join(f"{mpix[n]:.0f}" for n in names) + " |")
    lines += ["", *_table("Tesseract 5.5 CER (%) per degradation", ocr, list(configs), scale=100.0, digits=2)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
