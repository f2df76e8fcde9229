"""`AWS::Events::Rule` resources read into `EventRuleSpec`s and `ScheduleSpec`s, and the schedules' timer.

SAM function events of `Type: EventBridgeRule`/`CloudWatchEvent`/`Schedule` are such rules once the
template is translated. Only targets that are functions of the stack are emulated (others are logged
and skipped). A pattern the local matcher cannot evaluate, or a pattern rule's target that reshapes the
event (`Input`, `InputPath`, `InputTransformer`), raises `TemplateError` rather than deliver something
else than AWS would. A `rate(...)` schedule runs on a timer (`Scheduler`), its targets invoked
asynchronously with EventBridge's "Scheduled Event" (or the target's constant `Input`); a `cron(...)`
schedule is not run (logged).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from local_stack.cfn import TemplateError
from local_stack.event_patterns import EventPattern, EventPatternError
from local_stack.resources import DEFAULT_EVENT_BUS, EventRuleSpec, RuleTarget, ScheduleSpec

log = logging.getLogger(__name__)

EVENT_RULE = "AWS::Events::Rule"
_RESHAPING = ("Input", "InputPath", "InputTransformer")
_RATE = re.compile(r"^rate\(\s*([1-9][0-9]*)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedules_from_resources(
    rules: Iterable[tuple[str, Mapping[str, Any]]], function_arns: Iterable[str], region: str, account: str
) -> Iterator[ScheduleSpec]:
    """Enabled `rate(...)` rules (`(logical id, resolved properties)`) with function targets."""
    known = set(function_arns)
    for logical_id, props in rules:
        expression = str(props.get("ScheduleExpression", ""))
        if not expression or "EventPattern" in props:
            continue
        match = _RATE.match(expression)
        if match is None or str(props.get("State", "ENABLED")).upper() != "ENABLED":
            log.info("schedule not run locally", extra={"rule": logical_id, "expression": expression})
            continue
        targets = []
        for declared in props.get("Targets") or []:
            if str(declared.get("Arn", "")) not in known or {"InputPath", "InputTransformer"} & set(declared):
                log.info("schedule target not emulated", extra={"rule": logical_id, "target": declared})
                continue
            targets.append((str(declared["Arn"]), declared.get("Input")))
        name = str(props.get("Name") or logical_id)
        yield ScheduleSpec(
            logical_id=logical_id,
            expression=expression,
            seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")],
            rule_arn=f"arn:aws:events:{region}:{account}:rule/{name}",
            targets=tuple(targets),
        )


def scheduled_event(schedule: ScheduleSpec, account: str, region: str) -> dict[str, Any]:
    """EventBridge's event for one firing of `schedule`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [schedule.rule_arn],
        "detail": {},
    }


class Scheduler:
    """Fires every schedule every `seconds` (first after one period, as a new rule does) until `stop()`:
    each target gets `invoke(function ARN, event)` (asynchronous: the function's retry policy applies)."""

    def __init__(
        self, schedules: Iterable[ScheduleSpec], invoke: Callable[[str, Any], Any], account: str, region: str
    ):
        self._schedules = [s for s in schedules if s.targets]
        self._invoke = invoke
        self._account, self._region = account, region
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-stack-schedules", daemon=True)

    def start(self) -> None:
        if self._schedules:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _run(self) -> None:
        due = {s.logical_id: time.monotonic() + s.seconds for s in self._schedules}
        while not self._stop.wait(max(0.0, min(due.values()) - time.monotonic())):
            for schedule in self._schedules:
                if due[schedule.logical_id] > time.monotonic():
                    continue
                due[schedule.logical_id] += schedule.seconds
                event = scheduled_event(schedule, self._account, self._region)
                for arn, constant in schedule.targets:
                    try:
                        self._invoke(arn, json.loads(constant) if constant is not None else event)
                    except Exception:
                        log.exception("scheduled invocation refused", extra={"rule": schedule.logical_id})


def rules_from_resources(
    rules: Iterable[tuple[str, Mapping[str, Any]]], function_arns: Iterable[str]
) -> Iterator[EventRuleSpec]:
    """Rules declared as `AWS::Events::Rule` `(logical id, resolved properties)` with function targets."""
    known = set(function_arns)
    for logical_id, props in rules:
        if "EventPattern" not in props:
            continue
        targets = []
        for declared in props.get("Targets") or []:
            arn = str(declared.get("Arn", ""))
            if arn not in known:
                log.info("event rule target not emulated", extra={"rule": logical_id, "target": arn})
                continue
            reshaping = [key for key in _RESHAPING if key in declared]
            if reshaping:
                raise TemplateError(f"{logical_id}: target {', '.join(reshaping)} is not emulated locally")
            targets.append(RuleTarget(function_arn=arn))
        if not targets:
            log.info("event rule with no function target not emulated", extra={"rule": logical_id})
            continue
        try:
            pattern = EventPattern.compile(props["EventPattern"])
        except EventPatternError as exc:
            raise TemplateError(f"{logical_id}: {exc}") from exc
        yield EventRuleSpec(
            logical_id=logical_id,
            pattern=pattern,
            targets=tuple(targets),
            event_bus=_bus_name(props.get("EventBusName")),
            enabled=str(props.get("State", "ENABLED")).upper() == "ENABLED",
        )


def _bus_name(value: Any) -> str:
    """A bus name or ARN (`arn:…:event-bus/<name>`) as its name; absent means the default bus."""
    if value is None or value == "":
        return DEFAULT_EVENT_BUS
    return str(value).rpartition("event-bus/")[2] or DEFAULT_EVENT_BUS
