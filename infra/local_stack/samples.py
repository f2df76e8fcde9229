"""Sample images and their true text: `events/images/x.jpg` is described by `x.truth.txt` beside it.

The images are regenerated with `python -m bench.samples` (they are rendered by the benchmark corpus);
the local stack only reads the truth files, to give each recognized text its character error rate.
"""

from __future__ import annotations

from pathlib import Path

TRUTH_SUFFIX = ".truth.txt"


def truth_path(image: Path) -> Path:
    """Where the true text of `image` is kept (`scan.jpg` → `scan.truth.txt`)."""
    return image.with_name(image.stem + TRUTH_SUFFIX)


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate (edits / reference length) after whitespace normalisation, as the benchmark
    computes it; an empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return _levenshtein(ref, hyp) / len(ref)
