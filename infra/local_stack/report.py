"""Summary table (terminal) and `report.html` (original | binarized | text) of a local run."""

from __future__ import annotations

import html
import json
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


def summary_table(
    records: Sequence[ExecutionRecord],
    outputs: dict[str, LocalOutputs],
    truths: Mapping[str, Path] | None = None,
) -> str:
    """A fixed-width table: key, status, seconds, chars, CER, stages, API calls, polls, transitions, error.

    `cer` is shown where `truths` names a truth file for the key. `polls` counts the Wait loop's status
    checks, plus (`+N`) those the submitting function made itself.
    """
    header = ("key", "status", "seconds", "chars", "cer", "stages", "calls", "polls", "transitions", "error")
    rows = [header]
    for record in records:
        local = outputs.get(record.key)
        characters = local.characters() if local is not None else None
        rate = character_error_rate(local, (truths or {}).get(record.key))
        rows.append(
            (
                record.key,
                record.status,
                f"{record.seconds:.1f}" if record.seconds is not None else "-",
                str(characters) if characters is not None else "-",
                f"{100 * rate:.1f}%" if rate is not None else "-",
                (local.stages() if local is not None else None) or "-",
                _calls(local),
                _polls(record, local),
                str(record.transitions),
                _error_summary(record, local),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _calls(local: LocalOutputs | None) -> str:
    calls = local.api_calls() if local is not None else None
    return str(calls) if calls is not None else "-"


def _polls(record: ExecutionRecord, local: LocalOutputs | None) -> str:
    """Wait-loop checks, then `+N` for the checks Submit made itself (when there were any)."""
    in_lambda = local.in_lambda_checks() if local is not None else 0
    return f"{record.polls}+{in_lambda}" if in_lambda else str(record.polls)


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
    """Wall time, images per minute, polls and transitions per image (and API calls, given the outputs)."""
    count = max(1, len(records))
    polls = sum(r.polls for r in records)
    transitions = sum(r.transitions for r in records)
    rate = 60.0 * len(records) / wall_seconds if wall_seconds > 0 else 0.0
    return (
        f"wall {wall_seconds:.1f} s · {len(records)} images · {rate:.1f} images/min · "
        f"polls/image {polls / count:.1f} · transitions/image {transitions / count:.1f}"
        + _calls_per_image(records, outputs)
    )


def _calls_per_image(records: Sequence[ExecutionRecord], outputs: Mapping[str, LocalOutputs] | None) -> str:
    """`` · API calls/image N`` over the images with a result record, or nothing without one."""
    counts = [
        calls
        for record in records
        if (local := (outputs or {}).get(record.key)) is not None and (calls := local.api_calls()) is not None
    ]
    return f" · API calls/image {sum(counts) / len(counts):.1f}" if counts else ""


def write_html(
    path: Path,
    records: Sequence[ExecutionRecord],
    outputs: dict[str, LocalOutputs],
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
            return f"<em>no {html.escape(label)}</em>"
        rel = html.escape(target.resolve().relative_to(base).as_posix())
        return f'<a href="{rel}"><img src="{rel}" alt="{html.escape(label)}" loading="lazy"></a>'

    rows = []
    for record in records:
        local = outputs.get(record.key)
        text = ""
        if local is not None and local.text is not None:
            text = local.text.read_text(encoding="utf-8", errors="replace")[:_MAX_TEXT_IN_REPORT]
        failed = not record.succeeded
        rate = character_error_rate(local, (truths or {}).get(record.key))
        timing = f"{record.seconds:.1f} s" if record.seconds is not None else "-"
        quality = f"<br>CER {100 * rate:.1f}%" if rate is not None else ""
        body = (
            f'<p class="error">{html.escape(_error_summary(record, local) or record.status)}</p>'
            if failed
            else f"<pre>{html.escape(text)}</pre>"
        )
        row_class = ' class="failed"' if failed else ""
        rows.append(
            f"<tr{row_class}>"
            f"<td><b>{html.escape(record.key)}</b><br>{html.escape(record.status)}<br>{timing}{quality}<br>"
            f"stages {html.escape((local.stages() if local else None) or '-')} · "
            f"API calls {_calls(local)}<br>"
            f"polls {_polls(record, local)} · transitions {record.transitions}</td>"
            f"<td>{link(local.original if local else None, 'original')}</td>"
            f"<td>{link(local.binarized if local else None, 'binarized image')}</td>"
            f"<td>{body}</td>"
            "</tr>"
        )
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OCR pipeline: local run</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4em; vertical-align: top; }}
img {{ max-width: 360px; max-height: 360px; }}
pre {{ white-space: pre-wrap; max-width: 60ch; font-size: .85em; }}
tr.failed td {{ background: #fde8e8; }}
.error {{ color: #a00; font-weight: bold; }}
</style></head><body>
<h1>OCR pipeline: local run</h1>
<p>{html.escape(totals_line(records, wall_seconds, outputs))}</p>
<table><tr><th>object</th><th>original</th><th>binarized</th><th>text</th></tr>
{"".join(rows)}
</table></body></html>
"""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path
