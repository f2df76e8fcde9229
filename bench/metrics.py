"""Quality metrics for OCR and binarization: character error rate and DIBCO-style ink F-measure."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from local_stack.samples import cer as cer


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
