"""Which objects a reprocess run starts, and under which run (pure: listings in, candidates out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ocr_pipeline.domain.config import keys_of
from ocr_pipeline.domain.keys import skip_reason
from ocr_pipeline.domain.start import ObjectRef
from ocr_pipeline.settings import LayoutSettings


class Mode(StrEnum):
    """What to reprocess."""

    BACKFILL = "backfill"
    """Objects under the prefix with no result record yet."""
    FAILED = "failed"
    """Objects with a failure record."""
    FORCE = "force"
    """Every object under the prefix, in a new run."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An object to start, and the run its execution name carries (``None``: the upload's own name)."""

    obj: ObjectRef
    run: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The candidates, and how many listed objects were left out and why."""

    candidates: tuple[Candidate, ...]
    with_result: int = 0
    without_failure: int = 0
    not_accepted: int = 0


def record_prefix(prefix: str, output_prefix: str, layout: LayoutSettings) -> str:
    """The prefix under ``output_prefix`` that holds the records of every input under ``prefix``.

    Only the folder part maps across (output keys replace the extension), so the result is a superset.
    """
    relative = prefix[len(layout.INPUT_PREFIX) :]
    folder = relative.rpartition("/")[0]
    return f"{output_prefix}{folder}/" if folder else output_prefix


def plan(
    mode: Mode,
    objects: Iterable[ObjectRef],
    *,
    layout: LayoutSettings,
    suffixes: frozenset[str],
    results: Mapping[str, str] | None = None,
    failures: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Plan:
    """Select the objects to start.

    ``results`` and ``failures`` map record keys to their eTags. Backfill starts objects without a
    result under the upload's own execution name, so running it twice starts nothing new. A failed
    object is retried in run ``retry-<failure record eTag>``: the same failure is retried once
    however often this runs, and a new failure (a new record) can be retried again. Force starts
    everything in run ``force-<run_id>``.
    """
    if mode is Mode.FORCE and not run_id:
        raise ValueError("a forced run needs a run id")
    candidates: list[Candidate] = []
    with_result = without_failure = not_accepted = 0
    for obj in objects:
        if skip_reason(
            obj.key,
            input_prefix=layout.INPUT_PREFIX,
            output_prefixes=layout.output_prefixes,
            suffixes=suffixes,
        ):
            not_accepted += 1
            continue
        keys = keys_of(obj, layout)
        if mode is Mode.BACKFILL:
            if keys.result in (results or {}):
                with_result += 1
                continue
            candidates.append(Candidate(obj, None))
        elif mode is Mode.FAILED:
            etag = (failures or {}).get(keys.failed)
            if etag is None:
                without_failure += 1
                continue
            candidates.append(Candidate(obj, f"retry-{etag}"))
        else:
            candidates.append(Candidate(obj, f"force-{run_id}"))
    return Plan(tuple(candidates), with_result, without_failure, not_accepted)
