"""What the job needs from a function's settings, as small frozen values; where its outputs go."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ocr_pipeline.domain.keys import OutputKeys, output_keys, stage_image_key
from ocr_pipeline.domain.models import Stage
from ocr_pipeline.domain.polling import InLambdaPoll, PollSchedule
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.settings import BinarizationMode, LayoutSettings, OcrSettings

SUBMISSION_SLACK_SECONDS = 5.0
"""A claim older than the POST's (connect + read) timeout plus this cannot belong to a live POST."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What an image may be."""

    max_bytes: int
    max_pixels: int


@dataclass(frozen=True, slots=True)
class JobConfig:
    """The part of a function's settings the job needs."""

    layout: LayoutSettings
    limits: Limits
    schedule: PollSchedule
    in_lambda: InLambdaPoll
    language: str
    mode: BinarizationMode
    preprocessing: str
    base_url: str
    in_doubt_after_seconds: float
    summary: dict[str, str | int | float | bool] = field(default_factory=dict)


def job_config(settings: OcrSettings) -> JobConfig:
    """The job's configuration, from a function's settings."""
    return JobConfig(
        layout=LayoutSettings.model_validate(settings.model_dump()),
        limits=Limits(settings.MAX_IMAGE_BYTES, settings.MAX_IMAGE_PIXELS),
        schedule=PollSchedule(
            first_wait=settings.FIRST_WAIT_SECONDS,
            seconds_per_megapixel=settings.SECONDS_PER_MEGAPIXEL,
            recognition_seconds_per_megapixel=settings.RECOGNITION_SECONDS_PER_MEGAPIXEL,
            max_wait=settings.MAX_WAIT_SECONDS,
            backoff_rate=settings.POLL_BACKOFF_RATE,
            max_polls=settings.MAX_POLLS,
        ),
        in_lambda=InLambdaPoll(settings.IN_LAMBDA_POLL_SECONDS, settings.IN_LAMBDA_POLL_INTERVAL_SECONDS),
        language=settings.LANGUAGE,
        mode=settings.BINARIZATION_MODE,
        preprocessing=settings.PREPROCESSING,
        base_url=settings.OCR_API_BASE_URL,
        in_doubt_after_seconds=settings.OCR_CONNECT_TIMEOUT_SECONDS
        + settings.OCR_READ_TIMEOUT_SECONDS
        + SUBMISSION_SLACK_SECONDS,
        summary={
            "binarization_mode": settings.BINARIZATION_MODE.value,
            "preprocessing": settings.PREPROCESSING,
            "first_wait_seconds": settings.FIRST_WAIT_SECONDS,
            "seconds_per_megapixel": settings.SECONDS_PER_MEGAPIXEL,
            "recognition_seconds_per_megapixel": settings.RECOGNITION_SECONDS_PER_MEGAPIXEL,
            "max_wait_seconds": settings.MAX_WAIT_SECONDS,
            "poll_backoff_rate": settings.POLL_BACKOFF_RATE,
            "max_polls": settings.MAX_POLLS,
            "in_lambda_poll_seconds": settings.IN_LAMBDA_POLL_SECONDS,
            "in_lambda_poll_interval_seconds": settings.IN_LAMBDA_POLL_INTERVAL_SECONDS,
        },
    )


def keys_of(obj: ObjectRef, layout: LayoutSettings) -> OutputKeys:
    """Output keys of ``obj`` under the configured layout."""
    return output_keys(
        obj.key,
        input_prefix=layout.INPUT_PREFIX,
        text_prefix=layout.TEXT_PREFIX,
        binarized_prefix=layout.BINARIZED_PREFIX,
        result_prefix=layout.RESULT_PREFIX,
        failed_prefix=layout.FAILED_PREFIX,
    )


def image_key(obj: ObjectRef, stage: Stage, layout: LayoutSettings) -> str:
    """Where the image a preprocessing stage produced is stored, under that stage's own prefix."""
    prefixes = {
        Stage.DESKEW: layout.DESKEWED_PREFIX,
        Stage.UPSCALE: layout.UPSCALED_PREFIX,
        Stage.BINARIZE: layout.BINARIZED_PREFIX,
    }
    if stage not in prefixes:
        raise ValueError(f"stage {stage.value} produces no stored image")
    return stage_image_key(obj.key, input_prefix=layout.INPUT_PREFIX, stage_prefix=prefixes[stage])


def json_bytes(record: dict[str, Any]) -> bytes:
    """A record as indented UTF-8 JSON."""
    return json.dumps(record, indent=2, sort_keys=False, ensure_ascii=False).encode("utf-8")
