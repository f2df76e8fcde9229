"""Bring a key's outputs down from the local bucket: `OUT/text/x/scan.jpg.txt` for `incoming/x/scan.jpg`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

_SUFFIXES = {"text": ".txt", "binarized": ".png", "results": ".json", "failed": ".json"}
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class LocalOutputs:
    """Local paths of one key's original and outputs (None when the pipeline did not write it)."""

    key: str
    original: Path | None
    text: Path | None
    binarized: Path | None
    results: Path | None
    failed: Path | None

    def characters(self) -> int | None:
        """Length of the recognized text, or None without text."""
        return None if self.text is None else len(self.text.read_text(encoding="utf-8", errors="replace"))

    def result(self) -> dict[str, Any]:
        """The result record (task ids, timings, calls...), or {} without a readable one."""
        try:
            record = json.loads(self.results.read_text(encoding="utf-8")) if self.results else {}
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def in_lambda_checks(self) -> int:
        """Status checks made inside the submitting function (0 without a result record)."""
        value = self.result().get("in_lambda_polls", 0)
        return value if isinstance(value, int) else 0

    def stages(self) -> str | None:
        """The stages the image went through (``binarize>recognize``), from the result record."""
        steps = self.result().get("steps")
        return ">".join(str(step) for step in steps) if isinstance(steps, list) and steps else None

    def api_calls(self) -> int | None:
        """OCR API requests made for the image, all stages (from the result record)."""
        calls = self.result().get("calls")
        posts, gets = (
            (calls.get("posts", 0), calls.get("gets", 0)) if isinstance(calls, dict) else (None, None)
        )
        return posts + gets if isinstance(posts, int) and isinstance(gets, int) else None


def output_keys(key: str, input_prefix: str, prefixes: dict[str, str]) -> dict[str, str]:
    """The S3 key of each output of `key` (`incoming/a/b.jpg` → `text/a/b.jpg.txt`, ...)."""
    relative = PurePosixPath(key[len(input_prefix) :] if key.startswith(input_prefix) else key)
    return {kind: f"{prefixes[kind]}{relative}{suffix}" for kind, suffix in _SUFFIXES.items()}


def _local_path(out: Path, key: str) -> Path:
    path = (out / key).resolve()
    if not path.is_relative_to(out.resolve()):
        raise ValueError(f"key {key!r} escapes the output folder")
    return path


def _download(s3: Any, bucket: str, key: str, out: Path) -> Path | None:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    if int(head["ContentLength"]) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"{key} is larger than {MAX_DOWNLOAD_BYTES} bytes")
    path = _local_path(out, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(path))
    return path


def download_outputs(
    s3: Any, bucket: str, key: str, input_prefix: str, prefixes: dict[str, str], out: Path
) -> LocalOutputs:
    """Download the original and every output of `key` that exists under `out` (same relative keys)."""
    keys = output_keys(key, input_prefix, prefixes)
    found = {kind: _download(s3, bucket, output_key, out) for kind, output_key in keys.items()}
    return LocalOutputs(
        key=key,
        original=_download(s3, bucket, key, out),
        text=found["text"],
        binarized=found["binarized"],
        results=found["results"],
        failed=found["failed"],
    )
