"""The OpenCV box-filter Sauvola baseline."""

from __future__ import annotations

import numpy as np

from bench.binarization import box_sauvola
from bench.binarization_eval import _sk_sauvola
from bench.corpus import degrade, make_page


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
