"""Sample images and their true text: `events/images/x.jpg` is described by `x.truth.txt` beside it.

The images are regenerated with `python -m bench.samples` (they are rendered by the benchmark corpus);
the local stack only reads the truth files, to give each recognized text its character error rate
(`cer`, which the benchmark uses too).
"""

from __future__ import annotations

from pathlib import Path

from rapidfuzz.distance import Levenshtein

TRUTH_SUFFIX = ".truth.txt"


def truth_path(image: Path) -> Path:
    """Where the true text of `image` is kept (`scan.jpg` → `scan.truth.txt`)."""
    return image.with_name(image.stem + TRUTH_SUFFIX)


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate in 0..1+ (edits / reference length) after whitespace runs are collapsed to
    one space; an empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return Levenshtein.distance(ref, hyp) / len(ref)
