"""The auto-mode evaluation: the mirrored decision rule, labels, split, tuning and cost in tasks."""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import pytest

from bench import auto_mode
from bench.auto_mode import Thresholds, candidates, decide, evaluate, label, mean_cer, split, tune
from bench.ocr_accuracy import ImageResult
from ocr_pipeline.domain.binarization import ImageStats, decide_binarization

CLEAN = {
    "contrast": 0.9,
    "separability": 0.9,
    "illumination_variation": 0.01,
    "saturation": 0.0,
    "dark_fraction": 0.1,
}


STAT_NAMES = [f.name for f in fields(ImageStats)]


def _result(name: str, degradation: str, raw: float, binarized: float, **stats: float) -> ImageResult:
    return ImageResult(name, degradation, {"raw": raw, "binarized": binarized}, {**CLEAN, **stats})


def test_decide_mirrors_pipeline_rule_with_current_thresholds() -> None:
    # GIVEN many random statistics
    rng = np.random.default_rng(7)
    for _ in range(4000):
        values = [float(v) for v in rng.random(len(STAT_NAMES))]
        for fixed in ("interpolation", "sheet_border", "two_level_share"):  # both sides of fixed bounds
            index = STAT_NAMES.index(fixed)
            values[index] = 0.9 + 0.1 * values[index]
        stats = ImageStats(*values)
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


def _brute_force_tune(results: list[ImageResult], start: Thresholds) -> Thresholds:
    """`tune` without tolerance, one `decide` per grid point: the lowest CER, then most binarized,
    then the highest low-contrast + low-separability bounds, then nearest `start`."""

    def key(t: Thresholds) -> tuple[float, int, float, float]:
        binarized = sum(decide(r.stats, t) for r in results)
        distance = sum(abs(getattr(t, f.name) - getattr(start, f.name)) for f in fields(Thresholds))
        return (
            round(mean_cer(results, t), 9),
            -binarized,
            -round(t.low_contrast + t.low_separability, 9),
            round(distance, 9),
        )

    return min(candidates(), key=key)


def test_tune_scores_the_whole_grid_like_decide_point_by_point(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN random images and a reduced grid (two or three values per threshold)
    rng = np.random.default_rng(11)
    grid = {
        name: tuple(sorted(rng.choice(values, 3 if i % 2 else 2, replace=False)))
        for i, (name, values) in enumerate(auto_mode.GRID.items())
    }
    monkeypatch.setattr(auto_mode, "GRID", grid)
    for trial in range(4):
        results = [
            ImageResult(
                f"i{i}",
                "x",
                {"raw": float(rng.choice([0.0, 0.002, 0.2])), "binarized": float(rng.choice([0.0, 0.003]))},
                dict(zip(STAT_NAMES, (float(v) for v in rng.random(len(STAT_NAMES))), strict=True)),
            )
            for i in range(24)
        ]
        start = Thresholds() if trial % 2 else auto_mode.PRIOR
        # WHEN tuned vectorised, without tolerance / THEN it picks the brute-force search's point
        assert tune(results, start, tolerance=0.0) == _brute_force_tune(results, start)


def test_tune_counts_a_misread_character_as_no_evidence_against_binarizing() -> None:
    # GIVEN a faded page binarizing repairs, a page one character worse binarized (0.001) and a
    # blurred-looking page ten characters worse binarized (0.01), at rising contrast
    results = [
        _result("faded", "faded_ink", 0.2, 0.0, contrast=0.3),
        _result("one", "jpeg", 0.0, 0.001, contrast=0.42),
        _result("ten", "jpeg", 0.0, 0.01, contrast=0.58),
    ]
    start = Thresholds(low_contrast=0.35)
    # WHEN tuned with and without the tolerance
    tolerant, exact = tune(results, start), tune(results, start, tolerance=0.0)
    # THEN the one-character loss is binarized only with the tolerance; the ten-character one never
    assert [decide(r.stats, tolerant) for r in results] == [True, True, False]
    assert [decide(r.stats, exact) for r in results] == [True, False, False]


def test_decide_binarizes_soft_edges_unless_interpolated() -> None:
    # GIVEN clean statistics with soft edges from blur, and the same from upsampling
    blurred = {**CLEAN, "sharpness": 0.6, "interpolation": 0.8}
    upsampled = {**blurred, "interpolation": 0.99}
    t = Thresholds(low_sharpness=0.75, low_separability=0.0, low_contrast=0.0)
    # WHEN decided / THEN only the blurred page is binarized
    assert decide(blurred, t) is True
    assert decide(upsampled, t) is False


def test_decide_sends_a_photographed_sheet_raw_whatever_the_thresholds() -> None:
    # GIVEN a soft, unevenly lit page with a desk along every side, and the same with one side paper
    photo = {**CLEAN, "illumination_variation": 0.2, "sharpness": 0.6, "sheet_border": 1.0}
    shadowed = {**photo, "sheet_border": 0.5}
    # WHEN decided at the current thresholds / THEN only the photo is recognized as it is
    assert decide(photo, Thresholds()) is False
    assert decide(shadowed, Thresholds()) is True
