"""Binarization on real degraded documents (DIBCO / H-DIBCO) and on already-binary renders.

Real documents: the 24 DIBCO 2009-2012 development images with hand-made ground truth, read from
`../shared/data/dibco-dev/` next to the project's root (or `$BENCH_DIBCO_DIR`); they are never copied
into the repository, and the section is skipped with a message when the folder is absent. Every method
runs on the same images in the same run; the metrics are the contests' own: F-measure of ink, pseudo-F
(recall measured on the ground truth's skeleton, H-DIBCO 2010), PSNR and DRD (doxapy's
`calculate_performance`, except pseudo-F, which doxapy 0.9.2 does not report).

Already-binary input: clean text rendered at several sizes and thresholded to pure black and white;
a binarizer should hand it back unchanged (share of pixels unchanged, Tesseract CER before and after).
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import doxapy
import numpy as np
from skimage.morphology import skeletonize

from bench.common import Pixels
from bench.corpus import Sample, binary_pages
from bench.metrics import cer
from ocr_service.engines.binarize import DEFAULT_PARAMS, binarize, to_gray
from ocr_service.engines.geometry import correct_contrast
from ocr_service.engines.recognize import TesseractRecognizer

DIBCO_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dibco-dev"
QUICK_PER_YEAR = 2
QUICK_BINARY_HEIGHT = 350
"""Quick mode's already-binary pages: half-height (a smoke run; the 12 px page's reading dominates)."""
MAX_BELOW_OTSU = 3.0
GOAL_MEAN_F = 90.0
GOAL_UNCHANGED_PERCENT = 99.0

Method = Callable[[Pixels], Pixels]
OURS = "ours"
OTSU = "Otsu (OpenCV)"


@dataclass(frozen=True)
class Document:
    """A real page: `name` (e.g. 2011-PR2), contest `year`, RGB `image` and boolean ink `truth`."""

    name: str
    year: str
    image: Pixels
    truth: Pixels


def _shown(folder: Path) -> str:
    """The folder as recorded in results: relative to the project's root where it can be."""
    root = Path(__file__).resolve().parents[1]
    try:
        return os.path.relpath(folder.resolve(), root)
    except ValueError:
        return str(folder)


def dibco_dir() -> Path:
    """The folder holding the real documents (`$BENCH_DIBCO_DIR` overrides the default)."""
    return Path(os.environ.get("BENCH_DIBCO_DIR", str(DIBCO_DIR)))


def documents(folder: Path, *, quick: bool = False) -> list[Document]:
    """Every `NAME.png` with a `NAME_gt.png` in `folder` (gt: 0 = ink); quick: 2 per year."""
    docs: list[Document] = []
    per_year: dict[str, int] = defaultdict(int)
    for gt_path in sorted(folder.glob("*_gt.png")):
        name = gt_path.name[: -len("_gt.png")]
        year = name.split("-", 1)[0]
        if quick and per_year[year] >= QUICK_PER_YEAR:
            continue
        bgr = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or gt is None or bgr.shape[:2] != gt.shape:
            continue
        per_year[year] += 1
        docs.append(Document(name, year, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gt < 128))
    return docs


def _doxa(algorithm: Any, **params: float) -> Method:
    def run(image: Pixels) -> Pixels:
        gray = np.ascontiguousarray(to_gray(image))
        out = np.empty_like(gray)
        method = doxapy.Binarization(algorithm)
        method.initialize(gray)
        method.to_binary(out, params)
        return out

    return run


def _otsu(image: Pixels) -> Pixels:
    return cv2.threshold(to_gray(image), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def background_otsu(image: Pixels) -> Pixels:
    """OpenCV background normalisation + Otsu: dilate 7x7, median 21, difference, stretch, Otsu."""
    gray = to_gray(image)
    background = cv2.medianBlur(cv2.dilate(gray, np.ones((7, 7), np.uint8)), 21)
    flat = 255 - cv2.absdiff(gray, background)
    flat = cv2.normalize(flat, np.empty_like(flat), 0, 255, cv2.NORM_MINMAX)
    out: Pixels = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    return out


def methods() -> dict[str, Method]:
    """The project's binarizer first, then the classical baselines (doxapy's default parameters)."""
    algorithms = doxapy.Binarization.Algorithms
    return {
        OURS: binarize,
        OTSU: _otsu,
        "Sauvola (doxapy, w=75, k=0.2)": _doxa(algorithms.SAUVOLA, window=75, k=0.2),
        "ISauvola (doxapy, w=15, k=0.01)": _doxa(algorithms.ISAUVOLA, window=15, k=0.01),
        "Su (doxapy)": _doxa(algorithms.SU),
        "background-normalised Otsu (OpenCV)": background_otsu,
    }


def pseudo_f(pred_ink: Pixels, true_ink: Pixels) -> float:
    """Pseudo-F (0..100): precision as usual, recall on the skeleton of the ground-truth ink."""
    tp = int(np.count_nonzero(pred_ink & true_ink))
    skeleton = skeletonize(true_ink)  # type: ignore[no-untyped-call]
    hits = int(np.count_nonzero(pred_ink & skeleton))
    if tp == 0 or hits == 0:
        return 0.0
    precision = tp / int(np.count_nonzero(pred_ink))
    recall = hits / int(np.count_nonzero(skeleton))
    return 100.0 * 2 * precision * recall / (precision + recall)


def scores(output: Pixels, truth: Pixels) -> dict[str, float]:
    """F, pseudo-F, PSNR and DRD of a binarized `output` (ink 0) against the ink mask `truth`."""
    gt = np.where(truth, 0, 255).astype(np.uint8)
    out = np.ascontiguousarray(np.where(output == 0, 0, 255).astype(np.uint8))
    perf = doxapy.calculate_performance(gt, out)
    return {
        "f": float(perf["fm"]),
        "pseudo_f": pseudo_f(output == 0, truth),
        "psnr": float(perf["psnr"]),
        "drd": float(perf["drdm"]),
    }


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def run_real(folder: Path | None = None, *, quick: bool = False) -> dict[str, Any]:
    """Per image, per year and overall metrics of every method; `skipped` when the folder is absent."""
    folder = folder or dibco_dir()
    docs = documents(folder, quick=quick) if folder.is_dir() else []
    if not docs:
        return {"skipped": f"no real documents: {folder} is absent or empty (see bench/README.md)"}
    table = methods()
    per_image: dict[str, dict[str, dict[str, float]]] = {}
    for doc in docs:
        per_image[doc.name] = {name: scores(method(doc.image), doc.truth) for name, method in table.items()}
    years = sorted({doc.year for doc in docs})
    per_year = {
        year: {name: _mean([per_image[d.name][name] for d in docs if d.year == year]) for name in table}
        for year in years
    }
    overall = {name: _mean([per_image[d.name][name] for d in docs]) for name in table}
    gaps = {d.name: per_image[d.name][OURS]["f"] - per_image[d.name][OTSU]["f"] for d in docs}
    worst = min(gaps, key=lambda name: gaps[name])
    loyo = leave_one_year_out(docs) if not quick and len({d.year for d in docs}) > 1 else None
    return {
        "folder": _shown(folder),
        "images": len(docs),
        "methods": list(table),
        "per_image": per_image,
        "per_year": per_year,
        "mean": overall,
        "ours_vs_otsu": {
            "images_more_than_3_below": sum(gap < -MAX_BELOW_OTSU for gap in gaps.values()),
            "worst_image": worst,
            "worst_gap": gaps[worst],
        },
        "leave_one_year_out": loyo,
        "goal": {
            "mean_f": GOAL_MEAN_F,
            "max_below_otsu": MAX_BELOW_OTSU,
            "met_by_ours": overall[OURS]["f"] >= GOAL_MEAN_F and gaps[worst] >= -MAX_BELOW_OTSU,
        },
    }


LOYO_GRID: dict[str, tuple[float, ...]] = {
    "rim_soft_fraction": (0.35, 0.4, 0.45),
    "weak_fraction": (0.4, 0.5, 0.6),
    "noise_sigmas": (3.0, 4.0, 5.0),
}
"""Values tried per parameter in the leave-one-year-out check (the defaults are the middle ones)."""


def leave_one_year_out(docs: Sequence[Document]) -> dict[str, Any]:
    """Tune `LOYO_GRID` on three years, score the held-out year; repeat for each year.

    If the values chosen without a year are the defaults, or score that year about as well, the
    defaults are not fitted to it.
    """
    names = list(LOYO_GRID)
    points: list[dict[str, Any]] = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*LOYO_GRID.values())
    ]
    scores_by_point: list[dict[str, float]] = []
    for point in points:
        params = replace(DEFAULT_PARAMS, **point)
        scores_by_point.append({d.name: scores(binarize(d.image, params), d.truth)["f"] for d in docs})
    default = {name: getattr(DEFAULT_PARAMS, name) for name in names}
    default_index = points.index(default)
    folds: dict[str, dict[str, Any]] = {}
    for year in sorted({d.year for d in docs}):
        train = [d.name for d in docs if d.year != year]
        test = [d.name for d in docs if d.year == year]
        best = max(range(len(points)), key=lambda i: float(np.mean([scores_by_point[i][n] for n in train])))
        folds[year] = {
            "chosen": points[best],
            "held_out_f_chosen": float(np.mean([scores_by_point[best][n] for n in test])),
            "held_out_f_default": float(np.mean([scores_by_point[default_index][n] for n in test])),
        }
    return {
        "grid": {k: list(v) for k, v in LOYO_GRID.items()},
        "default": default,
        "folds": folds,
        "default_chosen": sum(fold["chosen"] == default for fold in folds.values()),
        "mean_held_out_f_chosen": float(np.mean([f["held_out_f_chosen"] for f in folds.values()])),
        "mean_held_out_f_default": float(np.mean([f["held_out_f_default"] for f in folds.values()])),
    }


def run_binary(*, quick: bool = False, binarizer: Method = binarize) -> dict[str, Any]:
    """Already-binary renders: % pixels left as in the black-and-white original, CER raw vs after.

    CER is Tesseract's (default thresholding) on the input's gray image, as RecognizeImage hands it over,
    and on the binarizer's output.
    """
    engine = TesseractRecognizer()
    rows: dict[str, dict[str, float]] = {}
    for sample in binary_pages(quick=quick, **({"height": QUICK_BINARY_HEIGHT} if quick else {})):
        image = sample.page.image
        out = binarizer(image)
        reference = np.where(sample.page.ink, 0, 255).astype(np.uint8)
        rows[sample.name] = {
            "unchanged_percent": 100.0 * float(np.mean(out == reference)),
            "cer_raw_percent": 100.0 * cer(sample.page.text, engine.recognize(to_gray(image)).text),
            "cer_binarized_percent": 100.0 * cer(sample.page.text, engine.recognize(out).text),
        }
    mean = _mean(list(rows.values()))
    return {
        "per_image": rows,
        "mean": mean,
        "min_unchanged_percent": min(r["unchanged_percent"] for r in rows.values()),
        "goal": {
            "unchanged_percent": GOAL_UNCHANGED_PERCENT,
            "met_by_ours": all(
                r["unchanged_percent"] >= GOAL_UNCHANGED_PERCENT
                and r["cer_binarized_percent"] <= r["cer_raw_percent"] + 1e-9
                for r in rows.values()
            ),
        },
    }


def _clahe(image: Pixels) -> Pixels:
    """The contrast correction used before: CLAHE on the luma (8x8 tiles, clip 2.0)."""
    out: Pixels = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(to_gray(image))
    return out


def run_contrast(samples: Sequence[Sample]) -> dict[str, Any]:
    """`makeContrastCorrection` candidates: Tesseract CER (%) per degradation, as RecognizeImage runs it.

    Columns: the image as is, CLAHE (the previous correction) and the current `correct_contrast`
    (illumination flattening + stretch), each recognized with Tesseract's internal Sauvola thresholding
    (the service's setting without `makeBinarization`).
    """
    engine = TesseractRecognizer()
    columns: dict[str, Method] = {"none": to_gray, "CLAHE": _clahe, "flatten + stretch": correct_contrast}
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        for name, method in columns.items():
            text = engine.recognize(method(sample.page.image)).text
            table[sample.degradation][name].append(100.0 * cer(sample.page.text, text))
    degraded = [d for d in table if d not in ("clean", "real_scan")]
    return {
        "columns": list(columns),
        "cer_percent": {d: {c: float(np.mean(v)) for c, v in row.items()} for d, row in table.items()},
        "mean_degraded_percent": {
            c: float(np.mean([v for d in degraded for v in table[d][c]])) if degraded else 0.0
            for c in columns
        },
    }
