"""Which stages an image goes through: the configured preprocessing chain, or auto's choice."""

from __future__ import annotations

from ocr_pipeline.domain.binarization import decide_binarization, image_stats
from ocr_pipeline.domain.image import CheckedImage
from ocr_pipeline.domain.models import AutoDecision, ModeInfo, Stage
from ocr_pipeline.settings import BinarizationMode

UPSCALE_BELOW_MEGAPIXELS = 1.0
"""``Preprocessing=auto`` upscales images smaller than this (small text loses thin strokes)."""


def _chain(preprocessing: str) -> list[Stage]:
    if preprocessing in ("none", "auto"):
        return []
    chain: list[Stage] = []
    for name in preprocessing.split(","):
        stage = Stage(name.strip())
        if stage not in chain:
            chain.append(stage)
    return chain


def plan_stages(
    image: CheckedImage, mode: BinarizationMode, preprocessing: str
) -> tuple[tuple[Stage, ...], ModeInfo]:
    """The stages for this image: the configured chain (or auto's choice), binarization per the mode."""
    chain = _chain(preprocessing)
    reasons: dict[str, str] = {}
    decision: AutoDecision | None = None
    decides_binarization = mode is BinarizationMode.AUTO or preprocessing == "auto"
    if decides_binarization:
        verdict = decide_binarization(image_stats(image.image))
        decision = AutoDecision(
            binarize=verdict.binarize, reason=verdict.reason, stats=verdict.stats.as_dict()
        )
        chain = [s for s in chain if s is not Stage.BINARIZE]
        if verdict.binarize:
            chain.append(Stage.BINARIZE)
    if preprocessing == "auto":
        reasons[Stage.DESKEW.value] = "skipped: no skew estimate is made before the API call"
        if image.megapixels < UPSCALE_BELOW_MEGAPIXELS:
            chain.insert(0, Stage.UPSCALE)
            reasons[Stage.UPSCALE.value] = (
                f"{image.megapixels:.2f} MP < {UPSCALE_BELOW_MEGAPIXELS:g} MP: small text"
            )
        else:
            reasons[Stage.UPSCALE.value] = (
                f"skipped: {image.megapixels:.2f} MP >= {UPSCALE_BELOW_MEGAPIXELS:g} MP"
            )
        assert decision is not None
        reasons[Stage.BINARIZE.value] = (
            decision.reason if decision.binarize else f"skipped: {decision.reason}"
        )
    if mode in (BinarizationMode.OFF, BinarizationMode.INLINE):
        chain = [s for s in chain if s is not Stage.BINARIZE]
    if Stage.BINARIZE in chain:
        effective = BinarizationMode.ENDPOINT
    else:
        effective = BinarizationMode.INLINE if mode is BinarizationMode.INLINE else BinarizationMode.OFF
    info = ModeInfo(
        requested=mode.value,
        effective=effective.value,
        decision=decision,
        preprocessing=preprocessing,
        reasons=reasons,
    )
    return (*chain, Stage.RECOGNIZE), info
