"""Quality metrics for OCR and binarization: character error rate and DIBCO-style ink F-measure."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def normalise_whitespace(text: str) -> str:
    """Collapse every run of whitespace (spaces, tabs, newlines) to one space and strip the ends."""
    return " ".join(text.split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)),
            )
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate in 0..1+ (edits / reference length) after whitespace normalisation.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    ref = normalise_whitespace(reference)
    hyp = normalise_whitespace(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)


def f_measure(pred_ink: NDArray[Any], true_ink: NDArray[Any]) -> float:
    """DIBCO-style F-measure (0..100) of a predicted ink mask against the ground-truth ink mask.

    Both arguments are boolean arrays of the same shape, True where a pixel is ink.
    Returns 0.0 when either precision or recall is zero.
    """
    if pred_ink.shape != true_ink.shape:
        raise ValueError(f"mask shapes differ: {pred_ink.shape} vs {true_ink.shape}")
    pred = pred_ink.astype(bool)
    true = true_ink.astype(bool)
    tp = int(np.count_nonzero(pred & true))
    fp = int(np.count_nonzero(pred & ~true))
    fn = int(np.count_nonzero(~pred & true))
    if tp == 0:
        return 0.0
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return 100.0 * 2 * precision * recall / (precision + recall)
