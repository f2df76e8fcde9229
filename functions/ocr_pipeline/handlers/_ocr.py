"""Wiring shared by the functions that call the OCR API: store and client built from settings."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from ocr_pipeline.adapters.ocr_api import AsposeOcrClient
from ocr_pipeline.adapters.s3_store import S3ObjectStore
from ocr_pipeline.adapters.secrets import secret_credentials
from ocr_pipeline.settings import OcrSettings

BASE64_OVERHEAD = 4 / 3
RESPONSE_SLACK_BYTES = 64 * 1024


def utc_now() -> datetime:
    """The clock the domain records times with."""
    return datetime.now(UTC)


def build_store() -> S3ObjectStore:
    """S3 store on a default-configured client (``AWS_ENDPOINT_URL`` redirects it in local runs)."""
    return S3ObjectStore(boto3.client("s3"))


def build_ocr_client(settings: OcrSettings) -> AsposeOcrClient:
    """OCR client whose token cache lives as long as the container."""
    return AsposeOcrClient(
        settings.OCR_API_BASE_URL,
        secret_credentials(settings.OCR_CREDENTIALS_SECRET, max_age=settings.SECRET_MAX_AGE_SECONDS),
        connect_timeout=settings.OCR_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.OCR_READ_TIMEOUT_SECONDS,
        max_response_bytes=int(settings.MAX_IMAGE_BYTES * BASE64_OVERHEAD * 4) + RESPONSE_SLACK_BYTES,
    )
