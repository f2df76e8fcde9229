"""Object keys: which uploads the pipeline accepts, where their outputs go, and execution names."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

EXECUTION_NAME_MAX = 80
_HASH_CHARS = 32
_READABLE_MAX = EXECUTION_NAME_MAX - _HASH_CHARS - 1
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


class SkipReason(StrEnum):
    """Why an S3 object is not processed."""

    FOLDER_MARKER = "folder_marker"
    OUTSIDE_INPUT_PREFIX = "outside_input_prefix"
    UNDER_OUTPUT_PREFIX = "under_output_prefix"
    SUFFIX_NOT_ALLOWED = "suffix_not_allowed"
    EMPTY_NAME = "empty_name"


@dataclass(frozen=True, slots=True)
class OutputKeys:
    """Where the outputs of one input object are written."""

    text: str
    binarized: str
    result: str
    failed: str


def skip_reason(
    key: str, *, input_prefix: str, output_prefixes: Iterable[str], suffixes: Collection[str]
) -> SkipReason | None:
    """Return why ``key`` must not be processed, or ``None`` when it must be.

    ``key`` is the decoded object key. Suffixes are compared case-insensitively, without the dot.
    Keys under an output prefix are refused even if the trigger filter would let them through, so the
    pipeline can never trigger itself.
    """
    if key.endswith("/"):
        return SkipReason.FOLDER_MARKER
    if any(key.startswith(prefix) for prefix in output_prefixes):
        return SkipReason.UNDER_OUTPUT_PREFIX
    if not key.startswith(input_prefix):
        return SkipReason.OUTSIDE_INPUT_PREFIX
    name = key.rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return SkipReason.EMPTY_NAME if not name else SkipReason.SUFFIX_NOT_ALLOWED
    if suffix.lower() not in {s.lower() for s in suffixes}:
        return SkipReason.SUFFIX_NOT_ALLOWED
    return None


def relative_key(key: str, input_prefix: str) -> str:
    """The part of ``key`` after ``input_prefix``, extension kept (``incoming/a/b.jpg`` → ``a/b.jpg``)."""
    if not key.startswith(input_prefix):
        raise ValueError(f"key {key!r} is not under {input_prefix!r}")
    return key[len(input_prefix) :]


def output_keys(
    key: str,
    *,
    input_prefix: str,
    text_prefix: str,
    binarized_prefix: str,
    result_prefix: str,
    failed_prefix: str,
) -> OutputKeys:
    """Map an input key to its output keys: the sub-path and the whole name are kept, a suffix appended.

    ``incoming/2026/scan.jpg`` → ``text/2026/scan.jpg.txt``, ``binarized/2026/scan.jpg.png``,
    ``results/2026/scan.jpg.json``, ``failed/2026/scan.jpg.json``: two inputs that differ only in
    their extension (``scan.png``, ``scan.jpg``) never share an output key.
    """
    relative = relative_key(key, input_prefix)
    return OutputKeys(
        text=f"{text_prefix}{relative}.txt",
        binarized=f"{binarized_prefix}{relative}.png",
        result=f"{result_prefix}{relative}.json",
        failed=f"{failed_prefix}{relative}.json",
    )


def stage_image_key(key: str, *, input_prefix: str, stage_prefix: str) -> str:
    """Where a preprocessing stage stores the image it produced (``deskewed/2026/scan.jpg.png``)."""
    return f"{stage_prefix}{relative_key(key, input_prefix)}.png"


def execution_name(bucket: str, key: str, version: str | None, run: str | None = None) -> str:
    """A deterministic Step Functions execution name for one object version (and run).

    The same bucket, key and version (S3 version id, else the eTag) always give the same name, so a
    redelivered S3 event maps onto the execution already started. ``run`` names a deliberate re-run
    (reprocessing): a new run of the same version gets a new name, since a Standard execution name stays
    reserved for 90 days; the same run again maps onto the same execution. The name is a readable tail
    of the key plus a SHA-256 prefix of the identity: at most 80 characters of ``[A-Za-z0-9_-]``.
    """
    parts = (bucket, key, version or "") if run is None else (bucket, key, version or "", run)
    identity = "\x00".join(parts)
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    readable = _UNSAFE_NAME_CHARS.sub("-", key.rsplit("/", 1)[-1]).strip("-_")[-_READABLE_MAX:].lstrip("-_")
    return f"{readable}-{digest}" if readable else digest
