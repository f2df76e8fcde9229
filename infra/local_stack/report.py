"""A local run's outputs: each key's files brought down from the local bucket (`OUT/text/x/scan.jpg.txt`
for `incoming/x/scan.jpg`), the summary table (terminal) and `report.html` (original | binarized | text)."""

from __future__ import annotations

import html
import json
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from local_stack.executions import ExecutionRecord
from local_stack.samples import cer

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


_MAX_TEXT_IN_REPORT = 20_000


def progress_line(records: Sequence[ExecutionRecord]) -> str:
    """`3/6 finished · SUCCEEDED 2 · FAILED 1 · RUNNING 3`."""
    counts = Counter(record.status for record in records)
    finished = sum(record.finished for record in records)
    parts = [f"{status} {count}" for status, count in sorted(counts.items())]
    return f"{finished}/{len(records)} finished · " + " · ".join(parts)


def character_error_rate(local: LocalOutputs | None, truth: Path | None) -> float | None:
    """CER of the recognized text against `truth` (a `*.truth.txt`), None without either."""
    if local is None or local.text is None or truth is None or not truth.is_file():
        return None
    return cer(truth.read_text(encoding="utf-8"), local.text.read_text(encoding="utf-8", errors="replace"))


_COLUMNS = ("key", "status", "seconds", "chars", "cer", "stages", "calls", "polls", "transitions", "error")


def _cells(record: ExecutionRecord, local: LocalOutputs | None, truth: Path | None) -> dict[str, str]:
    """One record's summary cells. `polls` counts the Wait loop's status checks, plus (`+N`) those the
    submitting function made itself; `error` is the failure record's stage, error and message."""
    local = local or LocalOutputs(record.key, None, None, None, None, None)
    characters, rate, calls = local.characters(), character_error_rate(local, truth), local.api_calls()
    in_lambda = local.in_lambda_checks()
    return {
        "key": record.key,
        "status": record.status,
        "seconds": f"{record.seconds:.1f}" if record.seconds is not None else "-",
        "chars": str(characters) if characters is not None else "-",
        "cer": f"{100 * rate:.1f}%" if rate is not None else "-",
        "stages": local.stages() or "-",
        "calls": str(calls) if calls is not None else "-",
        "polls": f"{record.polls}+{in_lambda}" if in_lambda else str(record.polls),
        "transitions": str(record.transitions),
        "error": _error_summary(record, local),
    }


def summary_table(
    records: Sequence[ExecutionRecord],
    outputs: Mapping[str, LocalOutputs],
    truths: Mapping[str, Path] | None = None,
) -> str:
    """A fixed-width table of `_COLUMNS` (`cer` where `truths` names a truth file for the key)."""
    rows = [_COLUMNS] + [
        tuple(_cells(r, outputs.get(r.key), (truths or {}).get(r.key)).values()) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _error_summary(record: ExecutionRecord, local: LocalOutputs | None) -> str:
    if local is not None and local.failed is not None:
        try:
            failure = json.loads(local.failed.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            failure = {}
        if isinstance(failure, dict):
            parts = [str(failure.get(k)) for k in ("stage", "error_type", "message") if failure.get(k)]
            if parts:
                return " / ".join(parts)[:120]
    return str(record.error or "")[:120]


def totals_line(
    records: Sequence[ExecutionRecord],
    wall_seconds: float,
    outputs: Mapping[str, LocalOutputs] | None = None,
) -> str:
    """Wall time, images per minute, polls and transitions per image (and API calls per image over the
    images with a result record, given the outputs)."""
    count = max(1, len(records))
    rate = 60.0 * len(records) / wall_seconds if wall_seconds > 0 else 0.0
    line = (
        f"wall {wall_seconds:.1f} s · {len(records)} images · {rate:.1f} images/min · "
        f"polls/image {sum(r.polls for r in records) / count:.1f} · "
        f"transitions/image {sum(r.transitions for r in records) / count:.1f}"
    )
    locals_ = [(outputs or {}).get(r.key) for r in records]
    calls = [c for local in locals_ if local is not None and (c := local.api_calls()) is not None]
    return line + (f" · API calls/image {sum(calls) / len(calls):.1f}" if calls else "")


_DOCUMENT = string.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OCR pipeline: local run</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid #ccc; padding: .4em; vertical-align: top; }
img { max-width: 360px; max-height: 360px; }
pre { white-space: pre-wrap; max-width: 60ch; font-size: .85em; }
tr.failed td { background: #fde8e8; }
.error { color: #a00; font-weight: bold; }
</style></head><body>
<h1>OCR pipeline: local run</h1>
<p>$totals</p>
<table><tr><th>object</th><th>original</th><th>binarized</th><th>text</th></tr>
$rows
</table></body></html>
""")
_ROW = string.Template(
    "<tr$row_class><td><b>$key</b><br>$status<br>$timing$cer<br>stages $stages · API calls $calls<br>"
    "polls $polls · transitions $transitions</td><td>$original</td><td>$binarized</td><td>$body</td></tr>"
)


def write_html(
    path: Path,
    records: Sequence[ExecutionRecord],
    outputs: Mapping[str, LocalOutputs],
    wall_seconds: float,
    truths: Mapping[str, Path] | None = None,
) -> Path:
    """Write the HTML report at `path`; images are linked relative to it (the outputs sit beside it).

    Failed rows are highlighted and show the failure record's stage, error and message; a CER is shown
    where `truths` names a truth file for the key. Written to a temporary file, then renamed, so a
    browser never reads half a report.
    """
    base = path.parent.resolve()

    def link(target: Path | None, label: str) -> str:
        if target is None:
            return f"<em>no {label}</em>"
        rel = html.escape(target.resolve().relative_to(base).as_posix())
        return f'<a href="{rel}"><img src="{rel}" alt="{label}" loading="lazy"></a>'

    rows = []
    for record in records:
        local = outputs.get(record.key)
        cells = {k: html.escape(v) for k, v in _cells(record, local, (truths or {}).get(record.key)).items()}
        if record.succeeded:
            text = local.text.read_text(encoding="utf-8", errors="replace") if local and local.text else ""
            body = f"<pre>{html.escape(text[:_MAX_TEXT_IN_REPORT])}</pre>"
        else:
            body = f'<p class="error">{cells["error"] or cells["status"]}</p>'
        rows.append(
            _ROW.substitute(
                cells,
                row_class="" if record.succeeded else ' class="failed"',
                timing=f"{cells['seconds']} s" if record.seconds is not None else "-",
                cer=f"<br>CER {cells['cer']}" if cells["cer"] != "-" else "",
                original=link(local.original if local else None, "original"),
                binarized=link(local.binarized if local else None, "binarized image"),
                body=body,
            )
        )
    document = _DOCUMENT.substitute(
        totals=html.escape(totals_line(records, wall_seconds, outputs)), rows="".join(rows)
    )
    partial = path.with_name(path.name + ".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path
