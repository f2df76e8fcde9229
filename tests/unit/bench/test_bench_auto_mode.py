"""The auto-mode evaluation: the mirrored decision rule, labels, split, tuning and cost in tasks."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from bench.auto_mode import Thresholds, decide, evaluate, label, split, tune
from bench.ocr_accuracy import ImageResult
from ocr_pipeline.domain.binarization import ImageStats, decide_binarization

CLEAN = {
    "contrast": 0.9,
    "separability": 0.9,
    "illumination_variation": 0.01,
    "saturation": 0.0,
    "dark_fraction": 0.1,
}


def _result(name: str, degradation: str, raw: float, binarized: float, **stats: float) -> ImageResult:
    return ImageResult(name, degradation, {"raw": raw, "binarized": binarized}, {**CLEAN, **stats})


def test_decide_mirrors_pipeline_rule_with_current_thresholds() -> None:
    # GIVEN many random statistics
    rng = np.random.default_rng(7)
    for _ in range(2000):
        stats = ImageStats(*(float(v) for v in rng.random(6)))
        # WHEN both rules decide / THEN they agree
        assert decide(asdict(stats), Thresholds()) == decide_binarization(stats).binarize


def test_label_tie_prefers_raw() -> None:
    # GIVEN equal CER on both paths / WHEN labelled / THEN binarizing is not "better"
    assert label(_result("a", "clean", 0.0, 0.0)) is False


def test_split_is_seeded_and_stratified() -> None:
    # GIVEN four images of each of two degradations
    results = [_result(f"{d}{i}", d, 0.0, 0.0) for d in ("x", "y") for i in range(4)]
    # WHEN split twice
    first, second = split(results), split(results)
    # THEN the split repeats, and each degradation appears on both sides
    assert first == second
    for degradation in ("x", "y"):
        assert any(results[i].degradation == degradation for i in first[0])
        assert any(results[i].degradation == degradation for i in first[1])


def test_tune_finds_threshold_that_lowers_cer() -> None:
    # GIVEN images where binarizing helps only above an illumination variation of 0.05
    results = [
        _result("lit", "shadow", 0.3, 0.0, illumination_variation=0.07),
        _result("even", "clean", 0.0, 0.1, illumination_variation=0.02),
    ]
    # WHEN tuned
    tuned = tune(results)
    # THEN both images take their better path
    assert [decide(r.stats, tuned) for r in results] == [True, False]


def test_evaluate_auto_never_costs_more_tasks_than_always() -> None:
    # GIVEN a mix of images / WHEN evaluated / THEN auto's OCR tasks per image stay within always's
    results = [
        _result("a", "shadow", 0.3, 0.0, illumination_variation=0.2),
        _result("b", "clean", 0.0, 0.0),
    ]
    tasks = evaluate(results, Thresholds())["ocr_tasks_per_image"]
    assert tasks["never"] <= tasks["auto"] <= tasks["always"]


def test_tune_binarizes_where_both_paths_tie() -> None:
    # GIVEN a faded page (binarizing helps), a blurred one (it hurts) and a page in between on which
    # both paths read the same
    results = [
        _result("faded", "faded_ink", 0.2, 0.0, contrast=0.3),
        _result("even", "colored_ink", 0.0, 0.0, contrast=0.5),
        _result("blurred", "blur", 0.0, 0.01, contrast=0.62),
    ]
    # WHEN tuned from a low starting threshold
    tuned = tune(results, Thresholds(low_contrast=0.35))
    # THEN the tie is binarized and the threshold moves up to it (a needed binarization missed costs
    # far more than an unneeded one), while the blurred page stays raw
    assert [decide(r.stats, tuned) for r in results] == [True, True, False]
    assert decide({**CLEAN, "contrast": 0.52}, tuned) is True


def test_tune_raises_the_low_contrast_bound_up_to_the_first_page_that_must_stay_raw() -> None:
    # GIVEN faint pages (contrast 0.35-0.44) that binarizing does not hurt, a blurred page at 0.59
    # that binarizing does hurt, and nothing in between
    results = [_result(f"f{i}", "faded_ink", 0.0, 0.0, contrast=c) for i, c in enumerate((0.35, 0.4, 0.44))]
    results.append(_result("b", "blur", 0.0, 0.1, contrast=0.59))
    # WHEN the thresholds are tuned
    tuned = tune(results, Thresholds(low_contrast=0.35))
    # THEN the bound sits just below the blurred page, so an unseen page at 0.54 would be binarized
    assert tuned.low_contrast == 0.55
