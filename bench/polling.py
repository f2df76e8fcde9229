"""Polling benchmark: vendor API calls, detection lag and state transitions per image, per schedule.

An image in endpoint mode is two OCR tasks (binarization, then recognition). Each task costs one POST
and one GET per result request (the operation's own GET returns the results once ``Completed``, so
there is no separate status call). A schedule decides when those GETs happen: inside the submitting
function (the in-Lambda wait: first GET at the expected time, then every interval within a budget) and/or
in the stage's Wait -> Check -> Choice loop (whole-second waits).

Transitions (the state machine in ``infra/ocr_pipeline.asl.json``): Validate image + Choose first stage
+ Done, and per stage Submit + "<stage> done?" plus 3 (Wait, Check, Choice) per Wait-loop check; 7 when
both tasks are seen finished by the in-Lambda GET.

The model (``image_outcome``) uses the task times measured on the offline service (scaled by a slowdown
factor for slower vendors); the local stack measures the expressible schedules on real jobs, taking
calls and per-stage lags from the result records.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BenchError, ocr_client
from local_stack import LocalStack
from ocr_pipeline.domain.models import Stage
from ocr_pipeline.domain.polling import InLambdaPoll, PollSchedule

ROOT = Path(__file__).resolve().parents[1]
ASL = ROOT / "infra" / "ocr_pipeline.asl.json"
TEMPLATE = ROOT / "template.yaml"
SLOWDOWNS: tuple[float, ...] = (1.0, 2.0, 10.0, 60.0)
"""Task times as multiples of the measured ones (a busier or slower vendor)."""
CALLS_GOAL = 4.5
LAG_GOAL_SHARE = 0.25
JITTER = 0.1
JITTER_POINTS = 41
TRUTH_DEADLINE_SECONDS = 300.0
MODEL_MEGAPIXELS = 0.7
FIXED_TRANSITIONS = 5
"""Acquire slot, Validate image, Choose first stage, Release slot, Done."""
STAGE_TRANSITIONS = 2
"""Submit <stage>, <Stage> done?"""
LOOP_TRANSITIONS = 3
"""Wait, Check, Choice per Wait-loop check."""
MEASURED_TASK_SECONDS = {Stage.BINARIZE: 0.11, Stage.RECOGNIZE: 1.06}
"""Medians measured on the offline service for 0.7 MP sample pages (functions/README.md)."""
TEMPLATE_SCHEDULE = PollSchedule(
    first_wait=0.1,
    seconds_per_megapixel=0.1,
    recognition_seconds_per_megapixel=1.4,
    max_wait=30,
    backoff_rate=1.5,
    max_polls=20,
)
"""Template defaults: FirstWaitSeconds, SecondsPerMegapixel, RecognitionSecondsPerMegapixel, MaxWaitSeconds,
PollBackoffRate, MaxPolls."""
IN_LAMBDA = (0.25, 3.0)
"""Template defaults: InLambdaPollIntervalSeconds, InLambdaPollSeconds."""


@dataclass(frozen=True)
class StageOutcome:
    """One task: when it was seen finished after it finished (s), GETs made, Wait-loop checks."""

    lag_seconds: float
    gets: int
    loop_checks: int
    detected: bool


@dataclass(frozen=True)
class ScheduleSpec:
    """A named schedule and the template parameters expressing it (None when they cannot).

    ``in_lambda``: (interval, budget) of the wait inside the submitting function; ``first_at_expected``:
    its first GET at the expected time (else after one interval); ``fixed_wait``: the Wait loop waits
    this many seconds every time instead of the adaptive schedule.
    """

    name: str
    params: dict[str, str] | None
    in_lambda: tuple[float, float] | None = None
    first_at_expected: bool = True
    fixed_wait: int | None = None

    def loop_waits(
        self, schedule: PollSchedule, megapixels: float, stage: Stage, *, after_in_lambda: bool
    ) -> list[int]:
        """The Wait loop's waits for one task."""
        if self.fixed_wait is not None:
            return [self.fixed_wait] * schedule.max_polls
        waits = [1 if after_in_lambda else schedule.initial_wait(megapixels, stage)]
        while len(waits) < schedule.max_polls:
            waits.append(schedule.next_wait(waits[-1]))
        return waits


def stage_outcome(
    spec: ScheduleSpec, schedule: PollSchedule, stage: Stage, task_seconds: float, megapixels: float
) -> StageOutcome:
    """Result requests for one task of ``task_seconds``, as the stage code makes them."""
    expected = schedule.expected_seconds(megapixels, stage)
    now, gets = 0.0, 0
    waited_in_lambda = False
    if spec.in_lambda is not None:
        interval, budget = spec.in_lambda
        if expected <= budget:
            waited_in_lambda = True
            delay = expected if spec.first_at_expected else interval
            while now + delay <= budget + 1e-9:
                now += delay
                gets += 1
                if now >= task_seconds:
                    return StageOutcome(now - task_seconds, gets, 0, True)
                delay = (
                    InLambdaPoll(budget, interval).next_delay(now, schedule.backoff_rate)
                    if spec.first_at_expected
                    else interval
                )
    for checks, wait in enumerate(
        spec.loop_waits(schedule, megapixels, stage, after_in_lambda=waited_in_lambda), start=1
    ):
        now += wait
        gets += 1
        if now >= task_seconds:
            return StageOutcome(now - task_seconds, gets, checks, True)
    return StageOutcome(math.inf, gets, schedule.max_polls, False)


def image_outcome(
    spec: ScheduleSpec, schedule: PollSchedule, task_seconds: dict[Stage, float], megapixels: float
) -> dict[str, float]:
    """Calls, lag (s and share of job time) and transitions for one endpoint-mode image."""
    outcomes = [stage_outcome(spec, schedule, s, t, megapixels) for s, t in task_seconds.items()]
    job = sum(task_seconds.values())
    lag = sum(o.lag_seconds for o in outcomes)
    return {
        "calls": len(outcomes) + sum(o.gets for o in outcomes),
        "lag_seconds": lag,
        "lag_share": lag / job,
        "transitions": FIXED_TRANSITIONS
        + sum(STAGE_TRANSITIONS + LOOP_TRANSITIONS * o.loop_checks for o in outcomes),
        "detected": all(o.detected for o in outcomes),
    }


def jittered(
    spec: ScheduleSpec, schedule: PollSchedule, slowdown: float, megapixels: float = MODEL_MEGAPIXELS
) -> dict[str, Any]:
    """Median outcome over task times spread evenly over +-``JITTER`` around the measured ones x slowdown."""
    outcomes = []
    for i in range(JITTER_POINTS):
        factor = slowdown * (1 - JITTER + 2 * JITTER * i / (JITTER_POINTS - 1))
        times = {stage: seconds * factor for stage, seconds in MEASURED_TASK_SECONDS.items()}
        outcomes.append(image_outcome(spec, schedule, times, megapixels))
    return {
        "job_seconds": slowdown * sum(MEASURED_TASK_SECONDS.values()),
        "median_calls": float(statistics.median(o["calls"] for o in outcomes)),
        "median_lag_seconds": float(statistics.median(o["lag_seconds"] for o in outcomes)),
        "median_lag_share": float(statistics.median(o["lag_share"] for o in outcomes)),
        "median_transitions": float(statistics.median(o["transitions"] for o in outcomes)),
        "max_transitions": max(o["transitions"] for o in outcomes),
        "all_detected": all(o["detected"] for o in outcomes),
    }


def schedules() -> list[ScheduleSpec]:
    """The schedules compared; the first is the template's default."""
    interval = IN_LAMBDA[0]
    return [
        ScheduleSpec(
            "in-Lambda GET at expected time, then adaptive loop (defaults)",
            {},
            in_lambda=IN_LAMBDA,
        ),
        ScheduleSpec("adaptive Wait loop only", {"InLambdaPollSeconds": "0"}),
        ScheduleSpec(
            f"in-Lambda GET every {interval:g} s from submission (previous design)",
            None,
            in_lambda=IN_LAMBDA,
            first_at_expected=False,
        ),
        ScheduleSpec("fixed 1 s Wait loop", _fixed_params(1), fixed_wait=1),
        ScheduleSpec("fixed 5 s Wait loop", _fixed_params(5), fixed_wait=5),
    ]


def _fixed_params(seconds: int) -> dict[str, str]:
    return {
        "InLambdaPollSeconds": "0",
        "FirstWaitSeconds": str(seconds),
        "SecondsPerMegapixel": "0",
        "RecognitionSecondsPerMegapixel": "0",
        "MaxWaitSeconds": str(seconds),
        "PollBackoffRate": "1",
        "MaxPolls": "100",
    }


def model(specs: Sequence[ScheduleSpec], schedule: PollSchedule = TEMPLATE_SCHEDULE) -> dict[str, Any]:
    """Modelled outcome of every schedule for every slowdown, and which meet the goals."""
    rows = {spec.name: {str(s): jittered(spec, schedule, s) for s in SLOWDOWNS} for spec in specs}
    goal = {
        name: {
            job: bool(out["median_calls"] <= CALLS_GOAL and out["median_lag_share"] <= LAG_GOAL_SHARE)
            for job, out in row.items()
        }
        for name, row in rows.items()
    }
    return {"megapixels": MODEL_MEGAPIXELS, "jitter": JITTER, "rows": rows, "goal": goal}


def template_has_in_lambda_poll(template: Path = TEMPLATE) -> bool:
    """Whether the template declares the `InLambdaPollSeconds` parameter."""
    from local_stack.template import declared_parameters

    return "InLambdaPollSeconds" in declared_parameters(template)


def probe_image() -> bytes:
    """A 0.7 MP sample page (``events/images/clean.png``), the image the task times were measured on."""
    return (ROOT / "events" / "images" / "clean.png").read_bytes()


def task_seconds(service: Any, data: bytes, repeats: int = 3) -> dict[Stage, float]:
    """Median time from an accepted POST to the first 10 ms check that sees the task Completed."""
    client = ocr_client(service)
    out: dict[Stage, float] = {}
    for stage in (Stage.BINARIZE, Stage.RECOGNIZE):
        samples = []
        for _ in range(repeats):
            if stage is Stage.RECOGNIZE:
                task_id = client.submit_recognition(data, language="English", make_binarization=False)
            else:
                task_id = client.submit_image(stage.operation, data)
            started = time.monotonic()
            while client.task_status(task_id).task_status.running:
                if time.monotonic() - started > TRUTH_DEADLINE_SECONDS:
                    raise BenchError(f"probe task {task_id} not finished within {TRUTH_DEADLINE_SECONDS} s")
                time.sleep(0.01)
            samples.append(time.monotonic() - started)
        out[stage] = float(statistics.median(samples))
    return out


def measure_stack(
    specs: Sequence[ScheduleSpec], *, images: int, deadline_seconds: float = 180.0
) -> list[dict[str, Any]]:
    """Run each expressible schedule in the local stack, one image at a time; one stack per schedule."""
    data = probe_image()
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if spec.params is None:
            continue
        params = {"BinarizationMode": "endpoint", **TEMPLATE_PARAMS, **spec.params}
        with LocalStack.start(param_overrides=params, service_options={"workers": 2}) as stack:
            truth = task_seconds(stack.ocr, data)
            calls, lags, shares, transitions = [], [], [], []
            failed = []
            for i in range(images):
                key = stack.upload_bytes(data, f"{stack.input_prefix}poll/{len(rows)}/{i}.png")
                (record,) = stack.wait_all(deadline_seconds, [key])
                if not record.succeeded:
                    failed.append(f"{record.key}: {record.status} {record.error} {record.cause}")
                    continue
                result = _result_record(stack, record.key)
                stages = result["stages"]
                lag = sum(float(stages[s.value]["job_seconds"]) - truth[s] for s in truth)
                calls.append(int(result["calls"]["posts"]) + int(result["calls"]["gets"]))
                lags.append(lag)
                shares.append(lag / sum(truth.values()))
                transitions.append(record.transitions)
            if not calls:
                raise BenchError(f"every execution failed: {failed}")
            expected = image_outcome(spec, TEMPLATE_SCHEDULE, truth, MODEL_MEGAPIXELS)
            rows.append(
                {
                    "schedule": spec.name,
                    "job_seconds_true": sum(truth.values()),
                    "task_seconds_true": {s.value: t for s, t in truth.items()},
                    "images": images,
                    "failed": failed,
                    "median_calls": float(statistics.median(calls)),
                    "median_lag_seconds": float(statistics.median(lags)),
                    "median_lag_share": float(statistics.median(shares)),
                    "median_transitions": float(statistics.median(transitions)),
                    "model_calls": expected["calls"],
                    "model_lag_seconds": expected["lag_seconds"],
                    "model_transitions": expected["transitions"],
                }
            )
    return rows


TEMPLATE_PARAMS = {
    "FirstWaitSeconds": "0.1",
    "SecondsPerMegapixel": "0.1",
    "RecognitionSecondsPerMegapixel": "1.4",
    "MaxWaitSeconds": "30",
}
"""The template defaults the local stack would otherwise shorten."""


def _result_record(stack: Any, key: str) -> dict[str, Any]:
    import json

    relative = key[len(stack.input_prefix) :]
    body = stack.s3.get_object(Bucket=stack.bucket, Key=f"{stack.output_prefixes['results']}{relative}.json")
    record: dict[str, Any] = json.loads(body["Body"].read())
    return record


def run(*, quick: bool) -> dict[str, Any]:
    """Model for every schedule x slowdown; stack measurements of the expressible schedules."""
    specs = schedules()
    measured = measure_stack(specs[:1] if quick else specs, images=1 if quick else 5)
    residuals = [row["median_lag_seconds"] - row["model_lag_seconds"] for row in measured]
    return {
        "model": model(specs),
        "measured": measured,
        "model_residual_seconds_median": float(statistics.median(residuals)) if residuals else None,
        "goals": {"calls_per_image": CALLS_GOAL, "lag_share": LAG_GOAL_SHARE},
        "notes": [
            f"model for a {MODEL_MEGAPIXELS} MP page in endpoint mode (binarization + recognition); "
            f"task times {MEASURED_TASK_SECONDS[Stage.BINARIZE]} s + "
            f"{MEASURED_TASK_SECONDS[Stage.RECOGNIZE]} s as measured on the offline service, "
            "x the slowdown in the column header, jittered",
            "calls = 2 POSTs + the GETs of each operation's own result (the token request is not counted)",
            "'previous design' (a GET every 0.25 s from submission) has no parameters any more",
        ],
    }
