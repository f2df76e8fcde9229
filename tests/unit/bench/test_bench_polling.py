"""The polling model: when a schedule notices a job, and what it costs in state transitions."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.polling import (
    TEMPLATE_SCHEDULE,
    adaptive,
    fixed,
    jittered,
    model,
    schedules,
    sdk_linear,
    simulate,
    simulate_in_lambda,
    submit_routes_through_choice,
)
from ocr_pipeline.domain.polling import Stage


def test_simulate_first_check_after_job_detects_it() -> None:
    # GIVEN checks every 5 s / WHEN a 7 s job runs
    outcome = simulate(7.0, fixed(5))
    # THEN the second check (at 10 s) sees it: lag 3 s, Submit + 2 x (Wait, Check, Choice) + Done
    assert (outcome.lag_seconds, outcome.checks, outcome.transitions) == (3.0, 2, 8)


def test_simulate_schedule_exhausted_reports_undetected() -> None:
    # GIVEN the SDK example's five tries (75 s in all) / WHEN a 100 s job runs
    outcome = simulate(100.0, sdk_linear())
    # THEN it is never seen finished
    assert outcome.detected is False
    assert math.isinf(outcome.lag_seconds)


def test_sdk_linear_waits_grow_by_step() -> None:
    # GIVEN / WHEN the Java example's schedule is built / THEN it sleeps 5 s x try number
    assert sdk_linear() == [5, 10, 15, 20, 25]


def test_adaptive_waits_follow_poll_schedule() -> None:
    # GIVEN the template schedule and a 0.7 MP image
    waits = adaptive(TEMPLATE_SCHEDULE, 0.7)
    # WHEN compared with the pipeline's own methods / THEN the first waits match, and max_polls bounds them
    assert waits[0] == TEMPLATE_SCHEDULE.initial_wait(0.7, Stage.RECOGNIZE)
    assert waits[1] == TEMPLATE_SCHEDULE.next_wait(waits[0])
    assert len(waits) == TEMPLATE_SCHEDULE.max_polls


def test_in_lambda_poll_short_job_needs_three_transitions() -> None:
    # GIVEN an in-Lambda poll every 0.1 s for 3 s / WHEN a 0.45 s job runs
    outcome = simulate_in_lambda(0.45, fixed(1), interval=0.1, budget=3.0)
    # THEN it is seen at 0.5 s with Submit + Choice + Done only
    assert math.isclose(outcome.lag_seconds, 0.05)
    assert outcome.transitions == 3


def test_in_lambda_poll_long_job_falls_back_to_wait_loop() -> None:
    # GIVEN a 3 s in-Lambda budget, then 5 s waits / WHEN a 7 s job runs
    outcome = simulate_in_lambda(7.0, fixed(5), interval=0.1, budget=3.0)
    # THEN the first Wait-loop check (3 + 5 = 8 s) sees it, with one more Choice than the plain loop
    assert (outcome.lag_seconds, outcome.checks, outcome.transitions) == (1.0, 1, 6)


def test_jittered_whole_second_job_is_not_lag_free() -> None:
    # GIVEN fixed 1 s checks / WHEN a job of about 2 s is modelled with jitter
    row = jittered(2.0, lambda t: simulate(t, fixed(1)))
    # THEN the median lag is positive (an exact 2.0 s job would show none by coincidence)
    assert row["median_lag_seconds"] > 0


def test_model_goal_table_flags_every_schedule_and_job() -> None:
    # GIVEN every schedule / WHEN the model runs
    result = model(schedules(in_lambda_parameter=False), 0.7, submit_choice=True, jobs=(0.5, 60.0))
    # THEN each schedule has a verdict per job time, and fixed 5 s misses the goal for 0.5 s jobs
    assert set(result["goal"]) == set(result["rows"])
    assert result["goal"]["fixed 5 s"]["0.5"] is False


def test_simulate_submit_choice_adds_one_transition() -> None:
    # GIVEN a state machine that routes Submit's result through a Choice / WHEN a job is seen at check 1
    with_choice = simulate(0.5, fixed(1), submit_choice=True)
    # THEN Submit, Choice, Wait, Check, Choice, Done
    assert with_choice.transitions == simulate(0.5, fixed(1)).transitions + 1 == 6


def test_submit_routes_through_choice_reads_the_asl(tmp_path: Path) -> None:
    # GIVEN a definition whose first state continues into a Choice
    asl = tmp_path / "asl.json"
    asl.write_text(
        json.dumps(
            {
                "StartAt": "Submit",
                "States": {
                    "Submit": {"Type": "Task", "Next": "Done?"},
                    "Done?": {"Type": "Choice", "Choices": [], "Default": "End"},
                    "End": {"Type": "Succeed"},
                },
            }
        ),
        encoding="utf-8",
    )
    # WHEN read / THEN it is detected
    assert submit_routes_through_choice(asl) is True
