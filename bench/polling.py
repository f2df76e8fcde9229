"""Polling benchmark: detection lag and state transitions per image for each poll schedule and job time.

A schedule is a sequence of whole-second waits (what a Wait state accepts), optionally preceded by a
bounded in-Lambda poll right after submission. The model (`simulate`) puts status checks at the
cumulative waits and reports when the first check at or after the job's end sees it finished. The local
stack measures the same for the schedules that template parameters can express, on short jobs (service
delay injection); longer jobs and the `5 s x n` schedule are computed from the model, which the measured
points validate (the residual is the local Lambda/moto overhead).

Transitions are for one OCR task per image (`BinarizationMode=off`): Submit, a Choice when the state
machine routes Submit's result through it (read from the ASL), then Wait + Check + Choice per status
check, then Done. A job the in-Lambda poll sees finished needs Submit + Choice + Done = 3.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BenchError, ocr_client, png_bytes
from bench.corpus import make_page
from local_stack import LocalStack
from ocr_pipeline.domain.models import Stage
from ocr_pipeline.domain.polling import PollSchedule

ROOT = Path(__file__).resolve().parents[1]
ASL = ROOT / "infra" / "ocr_pipeline.asl.json"
TEMPLATE = ROOT / "template.yaml"
JOB_SECONDS: tuple[float, ...] = (0.5, 2.0, 10.0, 60.0)
STACK_JOB_SECONDS: tuple[float, ...] = (0.5, 2.0, 10.0)
MAX_CHECKS = 500
LAG_GOAL_SHARE = 0.10
TRANSITIONS_GOAL = 12
JITTER = 0.1
JITTER_POINTS = 41
TRUTH_DEADLINE_SECONDS = 300.0
MODEL_MEGAPIXELS = 0.7
PROBE_MEGAPIXELS = 0.072
IN_LAMBDA = (0.25, 3.0)
"""Interval and budget (s) of the in-Lambda poll variant measured in the stack."""
IN_LAMBDA_VARIANTS: tuple[tuple[float, float], ...] = ((0.1, 3.0), IN_LAMBDA, (0.25, 12.0))
TEMPLATE_SCHEDULE = PollSchedule(
    first_wait=2, seconds_per_megapixel=0.5, max_wait=30, backoff_rate=1.5, max_polls=20
)
"""Template defaults: FirstWaitSeconds, SecondsPerMegapixel, MaxWaitSeconds, PollBackoffRate, MaxPolls."""


@dataclass(frozen=True)
class Outcome:
    """When a schedule notices a job of `job_seconds`: lag (s), lag share of job time, checks, transitions."""

    job_seconds: float
    lag_seconds: float
    lag_share: float
    checks: int
    transitions: int
    detected: bool


@dataclass(frozen=True)
class ScheduleSpec:
    """A named schedule: Wait-state waits per image size, an optional in-Lambda poll (interval, budget),
    and the template parameters expressing it (None when they cannot)."""

    name: str
    waits: Callable[[float], list[int]]
    params: dict[str, str] | None
    in_lambda: tuple[float, float] | None = None

    def detect(self, job_seconds: float, megapixels: float, *, submit_choice: bool) -> Outcome:
        """The modelled outcome for one job."""
        waits = self.waits(megapixels)
        if self.in_lambda is None:
            return simulate(job_seconds, waits, submit_choice=submit_choice)
        interval, budget = self.in_lambda
        return simulate_in_lambda(job_seconds, waits, interval=interval, budget=budget)


def fixed(seconds: int, limit: int = MAX_CHECKS) -> list[int]:
    """The same wait before every check."""
    return [seconds] * limit


def sdk_linear(step: int = 5, tries: int = 5) -> list[int]:
    """The Java SDK example: sleep `step x n` before try n, at most `tries` tries."""
    return [step * n for n in range(1, tries + 1)]


def adaptive(schedule: PollSchedule, megapixels: float, stage: Stage = Stage.RECOGNIZE) -> list[int]:
    """The pipeline's `PollSchedule`: expected job time first, then backoff, capped, `max_polls` checks."""
    waits = [schedule.initial_wait(megapixels, stage)]
    while len(waits) < schedule.max_polls:
        waits.append(schedule.next_wait(waits[-1]))
    return waits


def _adaptive_params(t: PollSchedule) -> dict[str, str]:
    return {
        "FirstWaitSeconds": str(t.first_wait),
        "SecondsPerMegapixel": str(t.seconds_per_megapixel),
        "MaxWaitSeconds": str(t.max_wait),
        "PollBackoffRate": str(t.backoff_rate),
        "MaxPolls": str(t.max_polls),
    }


def _fixed_params(seconds: int) -> dict[str, str]:
    return {
        "FirstWaitSeconds": str(seconds),
        "SecondsPerMegapixel": "0",
        "MaxWaitSeconds": str(seconds),
        "PollBackoffRate": "1",
        "MaxPolls": str(MAX_CHECKS),
    }


def schedules(*, in_lambda_parameter: bool) -> list[ScheduleSpec]:
    """The schedules under test; the in-Lambda variants carry parameters only if the template has them."""
    t = TEMPLATE_SCHEDULE

    def adaptive_waits(mp: float) -> list[int]:
        return adaptive(t, mp)

    off = {"InLambdaPollSeconds": "0"} if in_lambda_parameter else {}
    specs = [
        ScheduleSpec("fixed 1 s", lambda _: fixed(1), {**_fixed_params(1), **off}),
        ScheduleSpec("fixed 5 s", lambda _: fixed(5), {**_fixed_params(5), **off}),
        ScheduleSpec("SDK example 5 s x n", lambda _: sdk_linear(), None),
        ScheduleSpec("adaptive (template defaults)", adaptive_waits, {**_adaptive_params(t), **off}),
    ]
    for interval, budget in IN_LAMBDA_VARIANTS:
        params = None
        if in_lambda_parameter and (interval, budget) == IN_LAMBDA:
            params = {
                **_adaptive_params(t),
                "InLambdaPollSeconds": f"{budget:g}",
                "InLambdaPollIntervalSeconds": f"{interval:g}",
            }
        name = f"in-Lambda poll every {interval:g} s for {budget:g} s, then adaptive"
        specs.append(ScheduleSpec(name, adaptive_waits, params, (interval, budget)))
    return specs


def simulate(
    job_seconds: float, waits: Sequence[int], *, offset: float = 0.0, submit_choice: bool = False
) -> Outcome:
    """Checks at `offset + cumulative waits`; the first at or after `job_seconds` detects the job."""
    base = 3 if submit_choice else 2
    now = offset
    for checks, wait in enumerate(waits, start=1):
        now += wait
        if now >= job_seconds:
            lag = now - job_seconds
            return Outcome(job_seconds, lag, lag / job_seconds, checks, base + 3 * checks, True)
    checks = len(waits)
    return Outcome(job_seconds, math.inf, math.inf, checks, base + 3 * checks, False)


def simulate_in_lambda(
    job_seconds: float, waits: Sequence[int], *, interval: float, budget: float
) -> Outcome:
    """A bounded in-Lambda poll (every `interval` s for up to `budget` s), then the Wait loop.

    The state machine routes Submit's result through a Choice, so a job seen within the budget costs
    Submit + Choice + Done; otherwise the loop's checks start after the budget.
    """
    if job_seconds <= budget:
        polls = math.ceil(job_seconds / interval - 1e-9)
        lag = polls * interval - job_seconds
        return Outcome(job_seconds, lag, lag / job_seconds, polls, 3, True)
    return simulate(job_seconds, waits, offset=budget, submit_choice=True)


def jittered(job_seconds: float, detect: Callable[[float], Outcome]) -> dict[str, Any]:
    """Median outcome over job times spread evenly over +-`JITTER` around `job_seconds`.

    Real jobs do not end on whole seconds; a single exact job time would make whole-second schedules
    look lag-free by coincidence.
    """
    times = [job_seconds * (1 - JITTER + 2 * JITTER * i / (JITTER_POINTS - 1)) for i in range(JITTER_POINTS)]
    outcomes = [detect(t) for t in times]
    return {
        "job_seconds": job_seconds,
        "median_lag_seconds": float(statistics.median(o.lag_seconds for o in outcomes)),
        "median_lag_share": float(statistics.median(o.lag_share for o in outcomes)),
        "median_checks": float(statistics.median(o.checks for o in outcomes)),
        "median_transitions": float(statistics.median(o.transitions for o in outcomes)),
        "max_transitions": max(o.transitions for o in outcomes),
        "all_detected": all(o.detected for o in outcomes),
    }


def submit_routes_through_choice(asl: Path = ASL) -> bool:
    """Whether the state machine's submit state continues into a Choice state (not straight to a Wait)."""
    # DefinitionSubstitutions placeholders stand unquoted for numbers; any number keeps it valid JSON.
    definition = json.loads(re.sub(r"\$\{[A-Za-z0-9_]+\}", "0", asl.read_text(encoding="utf-8")))
    states = definition["States"]
    nxt = states[definition["StartAt"]].get("Next")
    return bool(nxt in states and states[nxt]["Type"] == "Choice")


def template_has_in_lambda_poll(template: Path = TEMPLATE) -> bool:
    """Whether the template declares the `InLambdaPollSeconds` parameter."""
    from local_stack.template import declared_parameters

    return "InLambdaPollSeconds" in declared_parameters(template)


def model(
    specs: Sequence[ScheduleSpec],
    megapixels: float,
    *,
    submit_choice: bool,
    jobs: Sequence[float] = JOB_SECONDS,
) -> dict[str, Any]:
    """Modelled outcome of every schedule for every job time."""
    rows = {
        spec.name: {
            str(job): jittered(job, lambda t, s=spec: s.detect(t, megapixels, submit_choice=submit_choice))  # type: ignore[misc]
            for job in jobs
        }
        for spec in specs
    }
    return {"megapixels": megapixels, "jitter": JITTER, "rows": rows, "goal": goal_table(rows)}


def goal_table(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, bool]]:
    """Per schedule and job time: median lag <= 10 % of job time and median transitions <= 12."""
    return {
        name: {
            job: bool(
                out["median_lag_share"] <= LAG_GOAL_SHARE and out["median_transitions"] <= TRANSITIONS_GOAL
            )
            for job, out in row.items()
        }
        for name, row in rows.items()
    }


def probe_image() -> bytes:
    """A small page (600x120, one text line) whose recognition takes milliseconds next to the delay."""
    return png_bytes(make_page(7, width=600, height=120, font_px=24).image)


def processing_seconds(service: Any, data: bytes, repeats: int = 3) -> float:
    """Median time from a RecognizeImage POST to the first 10 ms status check that sees it Completed.

    Measured one task at a time with no injected delay; a job's true duration is its injected delay
    plus this.
    """
    client = ocr_client(service)
    samples = []
    for _ in range(repeats):
        task_id = client.submit_recognition(data, language="English", make_binarization=False)
        started = time.monotonic()
        deadline = started + TRUTH_DEADLINE_SECONDS
        while client.task_status(task_id).task_status.running:
            if time.monotonic() >= deadline:
                raise BenchError(f"probe task {task_id} not finished within {TRUTH_DEADLINE_SECONDS} s")
            time.sleep(0.01)
        samples.append(time.monotonic() - started)
    return float(statistics.median(samples))


def measure_stack(
    specs: Sequence[ScheduleSpec],
    jobs: Sequence[float],
    *,
    images: int,
    submit_choice: bool,
    deadline_seconds: float = 180.0,
) -> list[dict[str, Any]]:
    """Run each expressible schedule in the local stack for each job time; one stack per schedule."""
    data = probe_image()
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if spec.params is None:
            continue
        params = {"BinarizationMode": "off", **spec.params}
        with LocalStack.start(param_overrides=params, service_options={"workers": max(2, images)}) as stack:
            processing = processing_seconds(stack.ocr, data)
            for job in jobs:
                stack.ocr.set_faults(delay_seconds=job)
                truth = job + processing
                folder = f"{stack.input_prefix}poll/{spec.name.replace(' ', '_')}/{job}"
                keys = [stack.upload_bytes(data, f"{folder}/{i}.png") for i in range(images)]
                records = stack.wait_all(deadline_seconds, keys)
                lags, transitions, checks = [], [], []
                failed = [f"{r.key}: {r.status} {r.error} {r.cause}" for r in records if not r.succeeded]
                if len(failed) == len(records):
                    raise BenchError(f"every execution failed: {failed}")
                for record in records:
                    if not record.succeeded:
                        continue
                    result = _result_record(stack, record.key)
                    lags.append(result["stages"]["recognize"]["job_seconds"] - truth)
                    transitions.append(record.transitions)
                    checks.append(record.polls)
                expected = spec.detect(truth, PROBE_MEGAPIXELS, submit_choice=submit_choice)
                rows.append(
                    {
                        "schedule": spec.name,
                        "job_seconds_target": job,
                        "job_seconds_true": truth,
                        "images": images,
                        "failed": failed,
                        "median_lag_seconds": float(statistics.median(lags)),
                        "median_transitions": float(statistics.median(transitions)),
                        "median_wait_loop_checks": float(statistics.median(checks)),
                        "model_lag_seconds": expected.lag_seconds,
                        "model_transitions": expected.transitions,
                    }
                )
            stack.ocr.set_faults(delay_seconds=0)
    return rows


def _result_record(stack: Any, key: str) -> dict[str, Any]:
    relative = key[len(stack.input_prefix) :]
    body = stack.s3.get_object(Bucket=stack.bucket, Key=f"{stack.output_prefixes['results']}{relative}.json")
    record: dict[str, Any] = json.loads(body["Body"].read())
    return record


def run(*, quick: bool) -> dict[str, Any]:
    """Model for every schedule x job time; stack measurements of the short jobs (one in quick mode)."""
    submit_choice = submit_routes_through_choice()
    specs = schedules(in_lambda_parameter=template_has_in_lambda_poll())
    if quick:
        measured = measure_stack(specs[:1], (0.5,), images=1, submit_choice=submit_choice)
    else:
        measured = measure_stack(specs, STACK_JOB_SECONDS, images=3, submit_choice=submit_choice)
    residuals = [row["median_lag_seconds"] - row["model_lag_seconds"] for row in measured]
    return {
        "model": model(specs, MODEL_MEGAPIXELS, submit_choice=submit_choice),
        "measured": measured,
        "submit_routes_through_choice": submit_choice,
        "model_residual_seconds_median": float(statistics.median(residuals)) if residuals else None,
        "notes": [
            f"model for a {MODEL_MEGAPIXELS} MP page (1000x700); the stack runs a 600x120 probe image whose "
            "adaptive first wait (3 s) equals the 0.7 MP one",
            "'SDK example 5 s x n' is not expressible with the template's parameters; for jobs under 5 s it "
            "behaves exactly like 'fixed 5 s' (first wait 5 s)",
            "a job ending within ~0.1 s of a whole-second check can be seen one check earlier or later in "
            "the stack than in the model",
        ],
    }
