"""Summary table (terminal) and `report.html` (original | binarized | text) of a local run."""

from __future__ import annotations

import html
import json
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from local_stack.executions import ExecutionRecord
from local_stack.outputs import LocalOutputs
from local_stack.samples import cer

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
