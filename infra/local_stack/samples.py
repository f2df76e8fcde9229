"""Sample images and their true text: `events/images/x.jpg` is described by `x.truth.txt` beside it.

The images are regenerated with `python -m bench.samples` (they are rendered by the benchmark corpus);
the local stack only reads the truth files, to give each recognized text its character error rate
(`bench.metrics.cer`, as the benchmark computes it).
"""

from __future__ import annotations

from pathlib import Path

TRUTH_SUFFIX = ".truth.txt"


def truth_path(image: Path) -> Path:
    """Where the true text of `image` is kept (`scan.jpg` → `scan.truth.txt`)."""
    return image.with_name(image.stem + TRUTH_SUFFIX)
