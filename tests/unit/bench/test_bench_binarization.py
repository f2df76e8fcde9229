"""The OpenCV box-filter Sauvola baseline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import binarization, binarization_identity, binarization_real
from bench.binarization import box_sauvola
from bench.binarization_eval import Method, _sk_sauvola
from bench.common import Pixels
from bench.corpus import binary_pages, degrade, make_page


def test_box_sauvola_matches_scikit_image_sauvola() -> None:
    # GIVEN a shaded page
    image = degrade(make_page(3, width=400, height=300, font_px=20), "shadow", 3).image
    # WHEN both Sauvola implementations binarize it
    ours, reference = box_sauvola(image), _sk_sauvola(image)
    # THEN they agree on all but a sliver of pixels (float rounding at the threshold)
    assert float(np.mean(ours != reference)) < 0.001


def test_box_sauvola_output_is_binary_ink_black() -> None:
    # GIVEN a clean page / WHEN binarized
    page = make_page(4, width=400, height=300, font_px=20)
    out = box_sauvola(page.image)
    # THEN values are 0/255 and most ground-truth ink is 0
    assert set(np.unique(out).tolist()) <= {0, 255}
    assert float(np.mean(out[page.ink] == 0)) > 0.9


def test_real_documents_absent_folder_is_skipped_with_reason(tmp_path: Path) -> None:
    # GIVEN a folder that does not exist / WHEN the real-document section runs
    result = binarization_real.run_real(tmp_path / "absent")
    # THEN it is skipped and says why, naming the folder
    assert set(result) == {"skipped"} and "absent" in result["skipped"]


def test_real_documents_scores_every_method_on_every_image(tmp_path: Path) -> None:
    # GIVEN a folder with one page and its ground truth in the contest layout (0 = ink)
    page = make_page(6, width=300, height=200, font_px=20)
    cv2.imwrite(str(tmp_path / "2099-P01.png"), page.image)
    cv2.imwrite(str(tmp_path / "2099-P01_gt.png"), np.where(page.ink, 0, 255).astype(np.uint8))
    # WHEN the section runs
    result = binarization_real.run_real(tmp_path)
    # THEN every method has F, pseudo-F, PSNR and DRD for the image, per year and overall
    assert result["images"] == 1 and list(result["per_year"]) == ["2099"]
    for name in result["methods"]:
        assert set(result["per_image"]["2099-P01"][name]) == {"f", "pseudo_f", "psnr", "drd"}
    assert result["mean"][binarization_real.OTSU]["f"] > 90.0


def test_pseudo_f_is_perfect_for_the_truth_and_zero_for_nothing() -> None:
    truth = np.zeros((20, 20), bool)
    truth[5:15, 8:12] = True
    assert binarization_real.pseudo_f(truth, truth) == 100.0
    assert binarization_real.pseudo_f(np.zeros_like(truth), truth) == 0.0


def test_binary_pages_are_black_and_white_with_their_mask() -> None:
    for sample in binary_pages(quick=True):
        if sample.degradation == "binary":
            assert set(np.unique(sample.page.image).tolist()) == {0, 255}
            assert np.array_equal(sample.page.image[:, :, 0] == 0, sample.page.ink)


def test_contrast_correction_check_reports_every_column() -> None:
    # GIVEN a shaded page and the real scan / WHEN the contrast-correction check runs
    samples = binarization.contrast_samples(quick=True)
    result = binarization_real.run_contrast(samples[:1])
    # THEN it reports a CER for each candidate, and flattening reads the shaded page
    assert result["columns"] == ["none", "CLAHE", "flatten + stretch"]
    row = result["cer_percent"]["shadow"]
    assert row["flatten + stretch"] < 1.0 <= row["none"]


def test_speeds_time_the_pair_in_extra_rounds_and_return_each_rounds_ratio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN three methods on a clock that only they advance, the pair being the second (twice as slow)
    # against the first
    calls: dict[str, int] = {"fast": 0, "slow": 0, "other": 0}
    clock = [0.0]
    monkeypatch.setattr(binarization.time, "perf_counter", lambda: clock[0])

    def method(name: str, seconds: float) -> Method:
        def run(image: Pixels) -> Pixels:
            calls[name] += 1
            clock[0] += seconds
            return image

        return run

    table = {"fast": method("fast", 0.002), "slow": method("slow", 0.004), "other": method("other", 0.001)}
    page = np.zeros((100, 100), np.uint8)
    # WHEN timed for 2 rounds of all and 3 more of the pair
    mpix, ratios = binarization.speeds(table, page, repeats=2, pair=("fast", "slow"), pair_repeats=3)
    # THEN the pair ran 1 warm-up + 5 times, the other method 1 + 2, one ratio per round, each 2
    assert calls == {"fast": 6, "slow": 6, "other": 3}
    assert len(ratios) == 5 and all(abs(r - 2.0) < 1e-9 for r in ratios)
    assert mpix["fast"] > mpix["slow"]


def test_identity_comparison_names_every_output_that_differs() -> None:
    # GIVEN a reference and outputs with one equal, one changed, one resized and one new image
    same: Pixels = np.zeros((4, 4), np.uint8)
    changed: Pixels = np.full((4, 4), 255, np.uint8)
    reference = {"a": same, "b": same, "c": same}
    current = {"a": same.copy(), "b": changed, "c": same[:2, :2], "d": same}
    # WHEN compared / THEN the changed, resized and new ones are reported, the equal one is not
    lines = binarization_identity.compare(reference, current)
    assert [line.split(":")[0] for line in lines] == ["b", "c", "d"]
    assert "16 of 16 pixels differ" in lines[0]
