"""OCR API credentials from Secrets Manager, cached per container by Powertools Parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import boto3
from aws_lambda_powertools.utilities import parameters

from ocr_pipeline.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """OAuth2 client-credentials pair. ``repr`` hides the secret so it never reaches a log."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=***)"


def secret_credentials(
    secret_id: str, *, max_age: int, provider: parameters.SecretsProvider | None = None
) -> Callable[[], ClientCredentials]:
    """A provider reading ``{"client_id": ..., "client_secret": ...}`` from secret ``secret_id``.

    The value is cached for ``max_age`` seconds, so a rotated secret is picked up without a cold start.
    The Secrets Manager client belongs to ``provider`` (default: one made here, at cold start), not to
    Powertools' process-wide default provider, so its lifetime is the container's.
    """
    # The client comes from boto3's default session, which the function's other clients share: a session
    # of its own (Powertools' default) would cost every cold start about 35 ms of CPU to build.
    secrets = (
        provider
        if provider is not None
        else parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))
    )

    def provide() -> ClientCredentials:
        value = secrets.get(secret_id, transform="json", max_age=max_age)
        if not isinstance(value, dict):
            raise ConfigurationError(f"secret {secret_id} is not a JSON object")
        client_id, client_secret = value.get("client_id"), value.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(client_secret, str) or not client_id:
            raise ConfigurationError(f"secret {secret_id} lacks string fields client_id and client_secret")
        if not client_secret:
            raise ConfigurationError(
                f"secret {secret_id} has an empty client_secret: set the OCR API credentials with "
                "aws secretsmanager put-secret-value"
            )
        return ClientCredentials(client_id, client_secret)

    return provide
