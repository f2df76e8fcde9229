"""The `auto` binarization mode measured against always / never, and its thresholds tuned by measurement.

Every image carries its `image_stats` and the CER of the `raw` (never) and `binarized` (always) paths.
Its label is the better path (binarize only when that lowers CER; on a tie the cheaper `raw` path wins).
Thresholds are tuned by grid search on a seeded, per-degradation stratified training split and reported
on the held-out split, next to the pipeline's current thresholds.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.ocr_accuracy import TASKS, ImageResult
from ocr_pipeline.domain import binarization as pipeline

SPLIT_SEED = 20261125
REPEAT_SEEDS = tuple(range(1, 11))
TRAIN_SHARE = 0.5
TIE_TOLERANCE = 1e-9
TUNE_TOLERANCE = 0.002
"""CER summed over the tuning images below which `tune` counts two grid points as equally good: two
characters of a 1,000-character page (one misread character moves a page's CER by 0.001-0.002)."""
TUNE_BLOCKS = 16
"""`tune` scores the grid in this many blocks of points (bounds its float working set)."""


@dataclass(frozen=True)
class Thresholds:
    """The named thresholds of `ocr_pipeline.domain.binarization`, as one tunable value."""

    low_contrast: float = pipeline.LOW_CONTRAST
    low_separability: float = pipeline.LOW_SEPARABILITY
    high_illumination_variation: float = pipeline.HIGH_ILLUMINATION_VARIATION
    high_saturation: float = pipeline.HIGH_SATURATION
    dark_background_fraction: float = pipeline.DARK_BACKGROUND_FRACTION
    bilevel_separability: float = pipeline.BILEVEL_SEPARABILITY
    high_noise: float = pipeline.HIGH_NOISE
    low_sharpness: float = pipeline.LOW_SHARPNESS


GRID: dict[str, tuple[float, ...]] = {
    "low_contrast": (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6),
    "low_separability": (0.0, 0.6, 0.7, 0.75, 0.8, 0.85, 0.87, 0.88),
    "high_illumination_variation": (0.05, 0.06, 0.065, 0.07, 0.08, 0.1, 0.15),
    "high_saturation": (0.1, 0.2, 0.3, 1.01),
    "dark_background_fraction": (0.3, 0.4, 0.55, 0.6, 1.01),
    "bilevel_separability": (0.9, 0.95, 0.97, 1.01),
    "high_noise": (0.005, 0.01, 0.015, 1.01),
    "low_sharpness": (0.0, 0.7, 0.75, 0.8, 0.85),
}
"""Values tried per threshold; 1.01 (0.0 for a lower bound) switches a rule off (statistics lie in 0..1)."""

PRIOR = Thresholds(low_contrast=0.35, low_separability=0.87, high_noise=0.01, low_sharpness=0.75)
"""Tie-break point of the repeated held-out tuning: the thresholds before they were fitted on every
image (so the held-out score never sees the fitted constants; `high_noise` at its grid's middle,
`low_sharpness` between the edge sharpness of a scan blurred by 0.7 px (0.8) and by 1.2 px (0.65))."""


def decide(stats: dict[str, float], t: Thresholds) -> bool:
    """`decide_binarization`'s rule with thresholds `t` (the unit tests pin it to the pipeline's)."""
    bilevel = stats["separability"] >= t.bilevel_separability
    if (bilevel or stats.get("two_level_share", 0.0) >= pipeline.BILEVEL_SHARE) and (
        stats["saturation"] < t.high_saturation
    ):
        return False
    if stats["dark_fraction"] >= t.dark_background_fraction:
        return False
    if stats.get("sheet_border", 0.0) >= pipeline.SHEET_BORDER:
        return False
    if stats["illumination_variation"] >= t.high_illumination_variation:
        return True
    if stats["saturation"] >= t.high_saturation:
        return True
    if stats.get("noise", 0.0) >= t.high_noise:
        return True
    if (
        stats.get("sharpness", 1.0) < t.low_sharpness
        and stats.get("interpolation", 0.0) < pipeline.UPSAMPLED_INTERPOLATION
    ):
        return True
    if stats["contrast"] < t.low_contrast:
        return True
    return stats["separability"] < t.low_separability


def label(result: ImageResult) -> bool:
    """Whether binarizing is strictly better (lower CER) for this image."""
    return result.cer["binarized"] < result.cer["raw"] - TIE_TOLERANCE


def split(results: Sequence[ImageResult], seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """Indices of a train / held-out split, stratified by degradation, seeded."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, result in enumerate(results):
        groups[result.degradation].append(index)
    train: list[int] = []
    test: list[int] = []
    for degradation in sorted(groups):
        members = [groups[degradation][i] for i in rng.permutation(len(groups[degradation]))]
        cut = round(len(members) * TRAIN_SHARE)
        if len(members) >= 2:
            cut = min(max(cut, 1), len(members) - 1)
        train += members[:cut]
        test += members[cut:]
    return sorted(train), sorted(test)


def chosen_cer(result: ImageResult, binarize: bool) -> float:
    """CER of the path a decision picks."""
    return result.cer["binarized" if binarize else "raw"]


def mean_cer(results: Sequence[ImageResult], t: Thresholds) -> float:
    """Mean CER (0..1) of `auto` with thresholds `t`."""
    if not results:
        return 0.0
    return float(np.mean([chosen_cer(r, decide(r.stats, t)) for r in results]))


def candidates() -> Iterator[Thresholds]:
    """Every combination of `GRID`."""
    names = list(GRID)
    for values in itertools.product(*(GRID[name] for name in names)):
        yield Thresholds(**dict(zip(names, values, strict=True)))


def _rule_masks(results: Sequence[ImageResult]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """`decide` over every `GRID` point at once: (skip, binarize) masks of shape (*grid, images).

    An image is binarized where a binarize rule fires and neither skip rule does, as in `decide`.
    """
    names = [f.name for f in fields(Thresholds)]
    stats = {
        key: np.array([r.stats.get(key, default) for r in results], np.float64)
        for key, default in (
            ("contrast", 0.0),
            ("separability", 0.0),
            ("illumination_variation", 0.0),
            ("saturation", 0.0),
            ("dark_fraction", 0.0),
            ("noise", 0.0),
            ("sharpness", 1.0),
            ("interpolation", 0.0),
            ("sheet_border", 0.0),
            ("two_level_share", 0.0),
        )
    }

    def axis(name: str) -> NDArray[np.float64]:
        shape = [1] * (len(names) + 1)
        shape[names.index(name)] = len(GRID[name])
        return np.asarray(GRID[name], np.float64).reshape(shape)

    def stat(key: str) -> NDArray[np.float64]:
        return stats[key].reshape([1] * len(names) + [-1])

    bilevel = (stat("separability") >= axis("bilevel_separability")) | (
        stat("two_level_share") >= pipeline.BILEVEL_SHARE
    )
    skip = bilevel & (stat("saturation") < axis("high_saturation"))
    skip = skip | (stat("dark_fraction") >= axis("dark_background_fraction"))
    skip = skip | (stat("sheet_border") >= pipeline.SHEET_BORDER)
    binarize = stat("illumination_variation") >= axis("high_illumination_variation")
    binarize = binarize | (stat("saturation") >= axis("high_saturation"))
    binarize = binarize | (stat("noise") >= axis("high_noise"))
    blurred = stat("sharpness") < axis("low_sharpness")
    binarize = binarize | (blurred & (stat("interpolation") < pipeline.UPSAMPLED_INTERPOLATION))
    binarize = binarize | (stat("contrast") < axis("low_contrast"))
    binarize = binarize | (stat("separability") < axis("low_separability"))
    return skip, binarize


def tune(
    results: Sequence[ImageResult], start: Thresholds | None = None, tolerance: float = TUNE_TOLERANCE
) -> Thresholds:
    """A grid point of (near) lowest CER on `results`, the one that binarizes the most of them.

    Every point whose CER, summed over `results`, is within `tolerance` of the lowest counts as
    equally good: a few misread characters on the pages binarized in vain are no evidence against a
    rule, and the costs are lopsided (an image that needed binarizing and was not loses 5-40 CER
    points, one binarized in vain loses well under 1). Among those points the one that binarizes the
    most images wins (then the lower CER), so a region of statistics the training images say
    nothing about is binarized.
    For the same reason the low-contrast and low-separability bounds then go as high as the training
    images allow: between the last page that needed binarizing and the first that did not, the gap
    is binarized, not left to whichever grid point is nearest `start`. Then the distance to `start`
    breaks ties, so a rule the data says nothing about keeps its value; the first point in `GRID`
    order settles what is left (the order `candidates` yields them in).
    """
    start = start or Thresholds()
    names = [f.name for f in fields(Thresholds)]
    values = np.meshgrid(*(np.asarray(GRID[n], np.float64) for n in names), indexing="ij")
    flat = {name: grid.ravel() for name, grid in zip(names, values, strict=True)}
    skip, binarize = _rule_masks(results)
    decided = (binarize & ~skip).reshape(flat[names[0]].size, len(results))
    raw = np.array([r.cer["raw"] for r in results], np.float64)
    gain = np.array([r.cer["binarized"] for r in results], np.float64) - raw
    total = np.concatenate(
        [raw.sum() + block.astype(np.float64) @ gain for block in np.array_split(decided, TUNE_BLOCKS)]
    )
    cer = np.round(total / max(len(results), 1), 9)
    near_best = total <= total.min() + tolerance + TIE_TOLERANCE
    binarized = decided.sum(axis=1)
    margin = np.round(flat["low_contrast"] + flat["low_separability"], 9)
    distance = np.round(sum(np.abs(flat[n] - getattr(start, n)) for n in names), 9)
    best = int(np.lexsort((distance, -margin, cer, -binarized, ~near_best))[0])
    return Thresholds(**{name: float(flat[name][best]) for name in names})


def evaluate(results: Sequence[ImageResult], t: Thresholds) -> dict[str, Any]:
    """Decision accuracy, mean CER (%) of auto / always / never / oracle, OCR tasks per image."""
    if not results:
        return {"images": 0}
    decisions = [decide(r.stats, t) for r in results]
    labels = [label(r) for r in results]
    correct = sum(
        d == y or r.cer["binarized"] == r.cer["raw"]
        for d, y, r in zip(decisions, labels, results, strict=True)
    )
    auto_tasks = [TASKS["binarized"] if d else TASKS["raw"] for d in decisions]
    return {
        "images": len(results),
        "decision_accuracy_percent": 100.0 * correct / len(results),
        "binarized_share_percent": 100.0 * sum(decisions) / len(results),
        "mean_cer_percent": {
            "auto": 100.0
            * float(np.mean([chosen_cer(r, d) for r, d in zip(results, decisions, strict=True)])),
            "always": 100.0 * float(np.mean([r.cer["binarized"] for r in results])),
            "never": 100.0 * float(np.mean([r.cer["raw"] for r in results])),
            "oracle": 100.0 * float(np.mean([min(r.cer["binarized"], r.cer["raw"]) for r in results])),
        },
        "ocr_tasks_per_image": {
            "auto": float(np.mean(auto_tasks)),
            "always": float(TASKS["binarized"]),
            "never": float(TASKS["raw"]),
        },
    }


def per_degradation(results: Sequence[ImageResult], t: Thresholds) -> dict[str, dict[str, float]]:
    """Mean CER (%) of auto / always / never per degradation."""
    groups: dict[str, list[ImageResult]] = defaultdict(list)
    for result in results:
        groups[result.degradation].append(result)
    table: dict[str, dict[str, float]] = {}
    for degradation, members in groups.items():
        decisions = [decide(r.stats, t) for r in members]
        table[degradation] = {
            "auto": 100.0
            * float(np.mean([chosen_cer(r, d) for r, d in zip(members, decisions, strict=True)])),
            "always": 100.0 * float(np.mean([r.cer["binarized"] for r in members])),
            "never": 100.0 * float(np.mean([r.cer["raw"] for r in members])),
            "auto_binarized_share": 100.0 * float(np.mean(decisions)),
        }
    return table


def repeated_held_out(results: Sequence[ImageResult], seeds: Sequence[int] = REPEAT_SEEDS) -> dict[str, Any]:
    """Tune on the training half and score the held-out half, for several seeded splits.

    One split of a small corpus is noisy; the mean over splits estimates how tuned thresholds generalise.
    Ties are broken towards `PRIOR`, not the pipeline's constants (those were fitted on every image).
    """
    rows = []
    tasks = []
    for seed in seeds:
        train_idx, test_idx = split(results, seed)
        if not train_idx or not test_idx:
            continue
        tuned = tune([results[i] for i in train_idx], PRIOR)
        evaluation = evaluate([results[i] for i in test_idx], tuned)
        rows.append(evaluation["mean_cer_percent"])
        tasks.append(evaluation["ocr_tasks_per_image"]["auto"])
    if not rows:
        return {"splits": 0}
    keys = ("auto", "always", "never", "oracle")
    return {
        "splits": len(rows),
        "mean_cer_percent": {k: float(np.mean([row[k] for row in rows])) for k in keys},
        "auto_no_worse_than_best_fixed": sum(row["auto"] <= min(row["always"], row["never"]) for row in rows),
        "auto_ocr_tasks_per_image": float(np.mean(tasks)),
        "always_ocr_tasks_per_image": float(TASKS["binarized"]),
    }


def run(results: Sequence[ImageResult]) -> dict[str, Any]:
    """Current vs tuned thresholds on the train split, the held-out split and all images.

    Also: the mean held-out result over `REPEAT_SEEDS` splits, and thresholds tuned on every image (the
    values to adopt; their figures on the same images are optimistic by construction).
    """
    current = Thresholds()
    train_idx, test_idx = split(results)
    train = [results[i] for i in train_idx]
    test = [results[i] for i in test_idx]
    tuned = tune(train, current) if train else current
    report: dict[str, Any] = {
        "split": {"seed": SPLIT_SEED, "train": len(train), "held_out": len(test)},
        "thresholds": {"current": asdict(current), "tuned": asdict(tuned)},
    }
    for name, t in (("current", current), ("tuned", tuned)):
        report[name] = {
            "train": evaluate(train, t),
            "held_out": evaluate(test, t),
            "all": evaluate(results, t),
            "per_degradation_all": per_degradation(results, t),
        }
    report["repeated_held_out"] = repeated_held_out(results)
    fitted = tune(results, current) if results else current
    report["thresholds"]["fitted_on_all"] = asdict(fitted)
    report["fitted_on_all"] = {"all": evaluate(results, fitted)}
    report["goal"] = {
        "met_by_tuned_on_held_out": _no_worse(report["tuned"]["held_out"]),
        "met_by_current_on_held_out": _no_worse(report["current"]["held_out"]),
    }
    return report


def _no_worse(evaluation: dict[str, Any]) -> bool:
    cers = evaluation.get("mean_cer_percent")
    if not cers:
        return True
    return bool(cers["auto"] <= min(cers["always"], cers["never"]) + 1e-9)
