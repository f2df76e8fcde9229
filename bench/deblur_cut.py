"""Where a deconvolved soft page's true edges lie: the cut of the binarizer's soft flat-paper path.

`python -m bench.deblur_cut`: renders of the corpus faces (DejaVu; page seeds no corpus page uses)
and of the held-out faces (`bench.corpus.HELD_OUT_FONTS`) at 14-40 px, blurred by known sigmas
0.7-1.5 px, are deconvolved as `ocr_service.engines.flat` does (sigma read from the edge sharpness,
Richardson-Lucy) and the restored darkness is read on the true edge: the pixels whose ink coverage
is 45-55 %. Its median, as a fraction of the restored ink level (the page's 99.5 % quantile), is
where a cut puts the stroke's edge at the coverage midpoint. Prints the median per sigma and overall
for each face set; `deblur_cut` (`BinarizeParams`) is the corpus faces' overall median.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import cv2
import numpy as np

from bench.common import Parser
from bench.corpus import FONTS, HELD_OUT_FONTS, make_page
from ocr_service.engines.binarize import DEFAULT_PARAMS, BinarizeParams, to_gray
from ocr_service.engines.flat import blur_sigma, deblur, sharpness
from ocr_service.engines.threshold import hist_quantile, histogram, page_histogram, sample_rows

SIZES = (14, 18, 22, 26, 30, 36, 40)
SIGMAS = (0.7, 0.9, 1.1, 1.3, 1.5)
EDGE_COVERAGE = (0.45, 0.55)


def edge_level(
    font: str, font_px: int, sigma: float, seed: int, params: BinarizeParams = DEFAULT_PARAMS
) -> float | None:
    """Median restored darkness on the true edge over the restored ink level, for one blurred
    render; None when the flat path would not deconvolve it (sharp, or softer than its floor)."""
    page = make_page(seed, font=font, font_px=font_px)
    gray = cv2.GaussianBlur(to_gray(page.image), (0, 0), sigma)
    hist = page_histogram(gray)
    paper = int(np.argmax(hist))
    contrast = paper - int(np.searchsorted(np.cumsum(hist), 0.005 * hist.sum()))
    below = cv2.subtract(np.full_like(gray, paper), gray)
    edge = sharpness(below, cv2.dilate(below, np.ones((5, 5), np.uint8)), contrast)
    if not params.deblur_min_sharpness <= edge < params.flat_min_sharpness:
        return None
    sharp = deblur(below, blur_sigma(edge), params.deblur_iterations)
    restored = max(float(contrast), hist_quantile(histogram(sample_rows(sharp)), 0.995))
    on_edge = (page.coverage > EDGE_COVERAGE[0]) & (page.coverage < EDGE_COVERAGE[1])
    return float(np.median(sharp[on_edge])) / restored


def measure(fonts: list[str], seed: int) -> dict[str, float]:
    """Median edge level per sigma ("sigma 0.7", ...) and over all pages ("all")."""
    levels: dict[float, list[float]] = defaultdict(list)
    for f_index, font in enumerate(fonts):
        for s_index, font_px in enumerate(SIZES):
            for sigma in SIGMAS:
                level = edge_level(font, font_px, sigma, seed + 10 * f_index + s_index)
                if level is not None:
                    levels[sigma].append(level)
    out = {f"sigma {s}": float(np.median(v)) for s, v in sorted(levels.items())}
    out["all"] = float(np.median([x for v in levels.values() for x in v]))
    out["pages"] = float(sum(len(v) for v in levels.values()))
    return out


def main(argv: list[str] | None = None) -> int:
    Parser(prog="python -m bench.deblur_cut", description=__doc__.splitlines()[0]).parse_args(argv)
    for label, fonts in (("corpus faces", list(FONTS)), ("held-out faces", list(HELD_OUT_FONTS))):
        row = measure(fonts, 9100)
        cells = (f"{k} {v:.3f}" if k != "pages" else f"{v:.0f} pages" for k, v in row.items())
        print(f"{label}: " + ", ".join(cells))
    print(f"deblur_cut: {DEFAULT_PARAMS.deblur_cut}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
