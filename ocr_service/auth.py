"""OAuth2 client-credentials tokens: stateless, HMAC-signed with a per-process random key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class TokenIssuer:
    """Issues and verifies bearer tokens for one client id/secret pair.

    A token is `<expiry>.<nonce>.<signature>` (base64url); it is valid until its expiry and only for
    this process (the key is random per start).
    """

    def __init__(
        self, client_id: str, client_secret: str, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._ttl = ttl_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)

    def check_client(self, client_id: str | None, client_secret: str | None) -> bool:
        """True when both credentials match (constant-time comparison)."""
        if client_id is None or client_secret is None:
            return False
        same_id = hmac.compare_digest(_utf8(client_id), _utf8(self._client_id))
        same_secret = hmac.compare_digest(_utf8(client_secret), _utf8(self._client_secret))
        return same_id and same_secret

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self) -> IssuedToken:
        expiry = int(self._clock()) + self._ttl
        payload = f"{expiry}.{secrets.token_urlsafe(12)}"
        return IssuedToken(access_token=f"{payload}.{self._sign(payload)}", expires_in=self._ttl)

    def verify(self, token: str) -> bool:
        """True for a token issued by this process that has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 512 or not token.isascii():
            return False
        payload = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(payload), parts[2]):
            return False
        try:
            return int(parts[0]) > self._clock()
        except ValueError:
            return False


def _utf8(text: str) -> bytes:
    """Bytes to compare in constant time; any str (lone surrogates included) encodes."""
    return text.encode("utf-8", "surrogatepass")


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(id, secret) from an `Authorization: Basic ...` header, or None."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
