"""Typed settings of each Lambda function, read from its environment once at cold start.

Field names are identical to the environment variable names set in ``template.yaml``. There are no
silent defaults: a missing or malformed variable raises :class:`ConfigurationError` naming it. Each
handler module builds its own settings object at import time, so two functions with different
environments never share one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ocr_pipeline.errors import ConfigurationError

Prefix = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^/].*/$")]
PositiveInt = Annotated[int, Field(gt=0)]


class BinarizationMode(StrEnum):
    """How an image is binarized before recognition."""

    ENDPOINT = "endpoint"
    INLINE = "inline"
    OFF = "off"
    AUTO = "auto"


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


class LayoutSettings(_Settings):
    """The S3 layout: where inputs arrive and where each kind of output goes."""

    INPUT_PREFIX: Prefix
    TEXT_PREFIX: Prefix
    BINARIZED_PREFIX: Prefix
    DESKEWED_PREFIX: Prefix
    UPSCALED_PREFIX: Prefix
    RESULT_PREFIX: Prefix
    FAILED_PREFIX: Prefix
    SUBMISSION_PREFIX: Prefix

    @model_validator(mode="after")
    def _outputs_outside_input(self) -> LayoutSettings:
        for prefix in self.output_prefixes:
            if prefix.startswith(self.INPUT_PREFIX) or self.INPUT_PREFIX.startswith(prefix):
                raise ValueError(f"output prefix {prefix!r} overlaps INPUT_PREFIX {self.INPUT_PREFIX!r}")
        return self

    @property
    def output_prefixes(self) -> tuple[str, ...]:
        """Every prefix the pipeline writes to."""
        return (
            self.TEXT_PREFIX,
            self.BINARIZED_PREFIX,
            self.DESKEWED_PREFIX,
            self.UPSCALED_PREFIX,
            self.RESULT_PREFIX,
            self.FAILED_PREFIX,
            self.SUBMISSION_PREFIX,
        )


class OnUploadSettings(LayoutSettings):
    """Settings of the S3-triggered function that starts one execution per object."""

    STATE_MACHINE_ARN: Annotated[str, Field(min_length=20, pattern=r"^arn:")]
    ALLOWED_SUFFIXES: Annotated[str, Field(min_length=1)]

    @property
    def suffixes(self) -> frozenset[str]:
        """Allowed file name suffixes, lower case, without the dot."""
        return frozenset(s.strip().lower().lstrip(".") for s in self.ALLOWED_SUFFIXES.split(",") if s.strip())


class OcrSettings(LayoutSettings):
    """Settings of the functions that call the OCR API (preprocessing stages, recognition)."""

    OCR_API_BASE_URL: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    OCR_CREDENTIALS_SECRET: Annotated[str, Field(min_length=1)]
    SECRET_MAX_AGE_SECONDS: PositiveInt
    OCR_CONNECT_TIMEOUT_SECONDS: Annotated[float, Field(gt=0, le=60)]
    OCR_READ_TIMEOUT_SECONDS: Annotated[float, Field(gt=0, le=600)]
    LANGUAGE: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_]+$")]
    BINARIZATION_MODE: BinarizationMode
    PREPROCESSING: Annotated[
        str, Field(pattern=r"^(none|auto|(deskew|upscale|binarize)(,(deskew|upscale|binarize))*)$")
    ]
    FIRST_WAIT_SECONDS: Annotated[float, Field(ge=0, le=3600)]
    SECONDS_PER_MEGAPIXEL: Annotated[float, Field(ge=0, le=600)]
    RECOGNITION_SECONDS_PER_MEGAPIXEL: Annotated[float, Field(ge=0, le=600)]
    MAX_WAIT_SECONDS: Annotated[int, Field(ge=1, le=3600)]
    POLL_BACKOFF_RATE: Annotated[float, Field(ge=1.0, le=4.0)]
    MAX_POLLS: Annotated[int, Field(ge=1, le=500)]
    IN_LAMBDA_POLL_SECONDS: Annotated[float, Field(ge=0, le=60)]
    IN_LAMBDA_POLL_INTERVAL_SECONDS: Annotated[float, Field(ge=0.05, le=5)]
    MAX_IMAGE_BYTES: PositiveInt
    MAX_IMAGE_PIXELS: PositiveInt

    @field_validator("OCR_API_BASE_URL")
    @classmethod
    def _https_unless_loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            raise ValueError(
                "http:// is allowed only for a loopback host (elsewhere the credentials and the token "
                "would travel in cleartext); use https://"
            )
        return url


class AdmissionSettings(_Settings):
    """Where the admission slots live and how many there are (the admission function, and the failure
    recorder, which gives a failed execution's slot back)."""

    ADMISSION_TABLE: Annotated[str, Field(min_length=3, max_length=255)]
    API_CONCURRENCY: Annotated[int, Field(ge=1, le=100)]


class FailureSettings(LayoutSettings):
    """Settings of the function that writes failure records."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a URL's hostname, brackets removed) names this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SettingsT = TypeVar("SettingsT", bound=_Settings)


def load_settings(model: type[SettingsT], environ: Mapping[str, str]) -> SettingsT:
    """Validate ``environ`` against ``model``; raise :class:`ConfigurationError` naming every bad variable."""
    try:
        return model.model_validate(dict(environ))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<settings>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid environment for {model.__name__}: {problems}") from exc
