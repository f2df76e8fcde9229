"""S3 as the pipeline's object store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ocr_pipeline.errors import ImageTooLarge, InvalidImage, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = frozenset({"NoSuchKey", "404", "NoSuchVersion"})
_REPLACED = frozenset({"PreconditionFailed", "412"})
# 412: the key exists; 409: a concurrent conditional write to the same key is in flight.
_TAKEN = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@contextmanager
def _transient(what: str, passthrough: Callable[[ClientError], bool] = lambda exc: False) -> Iterator[None]:
    """S3 errors other than the ones the caller handles become :class:`StorageUnavailable`."""
    try:
        yield
    except ClientError as exc:
        if passthrough(exc):
            raise
        code = exc.response.get("Error", {}).get("Code")
        raise StorageUnavailable(f"S3 {what} failed: {code}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"S3 {what} failed: {exc}") from exc


def _code_in(codes: frozenset[str]) -> Callable[[ClientError], bool]:
    return lambda exc: exc.response.get("Error", {}).get("Code") in codes


class S3ObjectStore:
    """Reads with a byte limit and writes whole objects (server-side encryption is the bucket default)."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def read(
        self, bucket: str, key: str, *, max_bytes: int, version_id: str | None = None, etag: str | None = None
    ) -> bytes:
        """Return the bytes of that version of the object; :class:`ImageTooLarge` above ``max_bytes``.

        The read is pinned to what the execution was started for: ``VersionId`` when the bucket is
        versioned, and ``IfMatch`` on the eTag, so an object replaced since the upload event is
        :class:`InvalidImage` instead of silently becoming another image's text.

        The size is checked from the response header before the body is read, and the read itself is
        bounded, so an oversized object never lands in memory. A missing object is :class:`InvalidImage`
        (it was deleted or replaced after the upload event; retrying cannot bring it back).
        """
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        if etag:
            kwargs["IfMatch"] = f'"{etag.strip(chr(34))}"'
        try:
            with _transient(f"GET {key}", _code_in(_MISSING | _REPLACED)):
                response = self._client.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _MISSING:
                raise InvalidImage(f"s3://{bucket}/{key} no longer exists") from exc
            if code in _REPLACED:
                raise InvalidImage(f"s3://{bucket}/{key} was replaced after its upload event") from exc
            raise
        length = int(response.get("ContentLength", 0))
        body = response["Body"]
        try:
            if length > max_bytes:
                raise ImageTooLarge(f"{length} bytes exceed the limit of {max_bytes}")
            with _transient(f"GET {key} (body)"):
                data: bytes = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ImageTooLarge(f"more than {max_bytes} bytes")
        return data

    def write(self, bucket: str, key: str, body: bytes, *, content_type: str) -> None:
        """Create or replace ``s3://bucket/key``."""
        with _transient(f"PUT {key}"):
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def read_optional(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        """The object's bytes, or ``None`` when it does not exist."""
        try:
            return self.read(bucket, key, max_bytes=max_bytes)
        except InvalidImage:
            return None

    def create(self, bucket: str, key: str, body: bytes, *, content_type: str) -> bool:
        """Write ``s3://bucket/key`` only if nothing is there (``If-None-Match: *``); ``False`` if taken."""
        try:
            with _transient(f"conditional PUT {key}", _code_in(_TAKEN)):
                self._client.put_object(
                    Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
                )
        except ClientError:
            return False
        return True

    def delete(self, bucket: str, key: str) -> None:
        """Remove ``s3://bucket/key``."""
        with _transient(f"DELETE {key}"):
            self._client.delete_object(Bucket=bucket, Key=key)
