"""The polling model: API calls, detection lag and state transitions per image for each schedule."""

from __future__ import annotations

import math

from bench.polling import (
    CALLS_GOAL,
    LAG_GOAL_SHARE,
    MEASURED_TASK_SECONDS,
    TEMPLATE_SCHEDULE,
    ScheduleSpec,
    image_outcome,
    jittered,
    model,
    schedules,
    stage_outcome,
)
from ocr_pipeline.domain.models import Stage

DEFAULT = schedules()[0]
LOOP_ONLY = ScheduleSpec("loop", {})


def test_stage_outcome_task_done_by_expected_time_needs_one_get_in_lambda() -> None:
    # GIVEN a recognition task shorter than its expected time (0.1 + 1.4 x 0.7 = 1.08 s)
    outcome = stage_outcome(DEFAULT, TEMPLATE_SCHEDULE, Stage.RECOGNIZE, 1.0, 0.7)
    # WHEN / THEN one GET at the expected time sees it, no Wait-loop check
    assert (outcome.gets, outcome.loop_checks) == (1, 0)
    assert math.isclose(outcome.lag_seconds, 0.08)


def test_stage_outcome_task_longer_than_budget_continues_in_wait_loop() -> None:
    # GIVEN a 10 s task with a 3 s in-Lambda budget / WHEN modelled / THEN the loop sees it
    outcome = stage_outcome(DEFAULT, TEMPLATE_SCHEDULE, Stage.RECOGNIZE, 10.0, 0.7)
    assert outcome.detected and outcome.loop_checks >= 1 and outcome.gets > outcome.loop_checks


def test_stage_outcome_loop_only_first_check_at_rounded_expected_time() -> None:
    # GIVEN no in-Lambda wait / WHEN a 1 s recognition runs / THEN the first check (2 s) sees it
    outcome = stage_outcome(LOOP_ONLY, TEMPLATE_SCHEDULE, Stage.RECOGNIZE, 1.0, 0.7)
    assert (outcome.gets, outcome.loop_checks, outcome.lag_seconds) == (1, 1, 1.0)


def test_image_outcome_both_tasks_seen_in_lambda_costs_four_calls_and_nine_transitions() -> None:
    # GIVEN the measured task times / WHEN the default schedule is modelled
    outcome = image_outcome(DEFAULT, TEMPLATE_SCHEDULE, dict(MEASURED_TASK_SECONDS), 0.7)
    # THEN 2 POSTs + 2 GETs and Acquire, Validate, Choose, 2 x (Submit, done?), Release, Done
    assert (outcome["calls"], outcome["transitions"]) == (4, 9)


def test_defaults_meet_calls_and_lag_goals_at_measured_task_times() -> None:
    # GIVEN the template's default schedule / WHEN jittered around the measured times
    row = jittered(DEFAULT, TEMPLATE_SCHEDULE, 1.0)
    # THEN the median image costs at most 4.5 calls and its lag is at most 25 % of the job time
    assert row["median_calls"] <= CALLS_GOAL and row["median_lag_share"] <= LAG_GOAL_SHARE


def test_model_reports_every_schedule_and_slowdown_with_goal_flags() -> None:
    result = model(schedules())
    assert set(result["rows"]) == {s.name for s in schedules()}
    assert all(set(row) == set(result["goal"][name]) for name, row in result["rows"].items())
    assert result["goal"][DEFAULT.name]["1.0"] is True


def test_previous_design_polling_from_submission_makes_more_calls_than_defaults() -> None:
    # GIVEN the old every-0.25-s in-Lambda poll / WHEN compared at measured times / THEN more calls
    previous = next(s for s in schedules() if "previous" in s.name)
    assert (
        jittered(previous, TEMPLATE_SCHEDULE, 1.0)["median_calls"]
        > jittered(DEFAULT, TEMPLATE_SCHEDULE, 1.0)["median_calls"]
    )
