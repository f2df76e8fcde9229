"""Typed settings read from the environment."""

from __future__ import annotations

import pytest

from ocr_pipeline.errors import ConfigurationError
from ocr_pipeline.settings import BinarizationMode, OcrSettings, OnUploadSettings, load_settings
from tests.unit.pipeline.pipeline_support import OCR_ENV, ON_UPLOAD_ENV


def test_load_settings_complete_env_is_typed() -> None:
    # GIVEN a complete environment / WHEN loaded
    settings = load_settings(OcrSettings, OCR_ENV)
    # THEN values are typed
    assert settings.BINARIZATION_MODE is BinarizationMode.ENDPOINT
    assert settings.MAX_POLLS == 3
    assert settings.POLL_BACKOFF_RATE == 1.5


def test_load_settings_missing_variable_names_it() -> None:
    # GIVEN an environment without MAX_POLLS
    env = {k: v for k, v in OCR_ENV.items() if k != "MAX_POLLS"}
    # WHEN loaded / THEN the error names the missing variable
    with pytest.raises(ConfigurationError, match="MAX_POLLS"):
        load_settings(OcrSettings, env)


def test_load_settings_unknown_mode_is_rejected() -> None:
    # GIVEN / WHEN / THEN a mode outside the allowed set is a configuration error
    with pytest.raises(ConfigurationError, match="BINARIZATION_MODE"):
        load_settings(OcrSettings, {**OCR_ENV, "BINARIZATION_MODE": "sometimes"})


def test_load_settings_output_prefix_inside_input_is_rejected() -> None:
    # GIVEN an output prefix that the trigger would watch / WHEN loaded / THEN it is refused (recursion)
    with pytest.raises(ConfigurationError, match="overlaps INPUT_PREFIX"):
        load_settings(OnUploadSettings, {**ON_UPLOAD_ENV, "TEXT_PREFIX": "incoming/text/"})


def test_load_settings_prefix_without_trailing_slash_is_rejected() -> None:
    # GIVEN / WHEN / THEN a prefix must end with "/" so "incoming" cannot match "incomingX/..."
    with pytest.raises(ConfigurationError, match="INPUT_PREFIX"):
        load_settings(OnUploadSettings, {**ON_UPLOAD_ENV, "INPUT_PREFIX": "incoming"})


def test_on_upload_settings_suffixes_are_normalised() -> None:
    # GIVEN suffixes with spaces, dots and capitals / WHEN loaded / THEN they are lower case without dots
    settings = load_settings(OnUploadSettings, {**ON_UPLOAD_ENV, "ALLOWED_SUFFIXES": " .PNG, jpg ,"})
    assert settings.suffixes == frozenset({"png", "jpg"})


def test_load_settings_ignores_foreign_variables() -> None:
    # GIVEN the shared env of every function plus unrelated variables / WHEN loaded / THEN they are ignored
    settings = load_settings(OnUploadSettings, {**ON_UPLOAD_ENV, **OCR_ENV, "PATH": "/usr/bin"})
    assert settings.INPUT_PREFIX == "incoming/"
