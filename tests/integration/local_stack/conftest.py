"""Shared by the local-stack integration tests: a stand-in for the OCR service nothing here calls."""

from __future__ import annotations

import pytest


class StubService:
    """Stands in for the OCR service: the fixture template's handlers never call it."""

    base_url = "http://127.0.0.1:9"
    client_id = "stub"
    client_secret = "stub"

    def stop(self) -> None:
        return None


@pytest.fixture(scope="session")
def stub_ocr() -> StubService:
    """The OCR service stand-in a `LocalStack.start` over the fixture template needs."""
    return StubService()
