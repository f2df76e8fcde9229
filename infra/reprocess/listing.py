"""Bounded, paginated S3 listings of the bucket's inputs and of its result and failure records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocr_pipeline.domain.start import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PAGE_SIZE = 1000
_UNVERSIONED = "null"


@dataclass(frozen=True, slots=True)
class Listing:
    """What one listing found, and whether it stopped at its limit before the end."""

    objects: tuple[ObjectRef, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class RecordListing:
    """Keys of records under a prefix with their eTags (a record rewritten gets a new eTag)."""

    etags: dict[str, str]
    truncated: bool


def object_ref(
    bucket: str, key: str, version_id: str | None, etag: str | None, size: int | None
) -> ObjectRef:
    """An object version as S3 lists it (``"null"`` version id on an unversioned bucket, quoted eTag)."""
    return ObjectRef(
        bucket=bucket,
        key=key,
        version_id=None if version_id in (None, _UNVERSIONED) else version_id,
        etag=(etag or "").strip('"') or None,
        size=size,
    )


def current_objects(s3: S3Client, bucket: str, prefix: str, *, limit: int) -> Listing:
    """The current version of each object under ``prefix`` (deleted keys left out), at most ``limit``.

    On an unversioned bucket the version id is ``None`` and executions are named after the eTag, as
    the upload function names them.
    """
    found: list[ObjectRef] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}):
        for version in page.get("Versions", []):
            if not version.get("IsLatest"):
                continue
            if len(found) == limit:
                return Listing(tuple(found), truncated=True)
            found.append(
                object_ref(
                    bucket, version["Key"], version.get("VersionId"), version.get("ETag"), version.get("Size")
                )
            )
    return Listing(tuple(found), truncated=False)


def records(s3: S3Client, bucket: str, prefix: str, *, limit: int) -> RecordListing:
    """Keys and eTags of the objects under ``prefix`` (current versions only), at most ``limit``."""
    etags: dict[str, str] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}):
        for item in page.get("Contents", []):
            if len(etags) == limit:
                return RecordListing(etags, truncated=True)
            etags[item["Key"]] = str(item.get("ETag", "")).strip('"')
    return RecordListing(etags, truncated=False)
