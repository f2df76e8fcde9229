"""EventBridge locally: event patterns, the stack's rules and schedules.

Patterns are matched by moto's `EventPattern`, which treats an operator (or numeric comparison) it does
not know as a match: `EventPattern.compile` refuses those, and malformed patterns, with `EventPatternError`.
SAM function events of `Type: EventBridgeRule`/`Schedule` are `AWS::Events::Rule`s once translated; the
local stack emulates rules on the default bus whose targets are functions of the stack and receive the
whole event (or, for a schedule, its constant `Input`), and refuses any other rule it would not deliver
as AWS does. A `rate(...)` schedule runs on a timer (`Scheduler`); a `cron(...)` one is not run (logged).
Status-change events are delivered to the rules by `local_stack.status_events`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.events import models as moto_events
from moto.events.exceptions import InvalidEventPatternException

from local_stack.cfn import TemplateError

log = logging.getLogger(__name__)

EVENT_RULE = "AWS::Events::Rule"
OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "exists", "numeric", "cidr", "wildcard"}
)
_COMPARISONS = frozenset({"<", "<=", "=", ">=", ">"})
_RATE = re.compile(r"^rate\(\s*([1-9][0-9]*)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class EventPatternError(ValueError):
    """An event pattern is malformed or uses an operator the local stack does not evaluate."""


@dataclass(frozen=True)
class EventPattern:
    """A checked pattern; `source` is the pattern as written (JSON-compatible data)."""

    source: Mapping[str, Any]

    @classmethod
    def compile(cls, pattern: Any) -> EventPattern:
        """Check `pattern` (a mapping, or its JSON text) and return it; `EventPatternError` otherwise."""
        text = pattern if isinstance(pattern, str) else json.dumps(pattern)
        try:
            parsed = moto_events.EventPatternParser(text).parse()
        except InvalidEventPatternException as exc:
            raise EventPatternError(f"invalid event pattern: {exc.message}") from exc
        if not isinstance(parsed, dict) or not parsed:
            raise EventPatternError(f"event pattern must be a non-empty object, got {pattern!r}")
        _check_object(parsed, "")
        return cls(source=parsed)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True if `event` satisfies the pattern (moto's matcher)."""
        matcher = moto_events.EventPattern(None, dict(self.source))
        return bool(matcher.matches_event(dict(event)))  # type: ignore[arg-type]


def _check_object(node: Mapping[str, Any], path: str) -> None:
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if key == "$or":
            if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
                raise EventPatternError(f"{where}: $or needs a non-empty list of patterns")
            for alternative in value:
                _check_object(alternative, path)
        elif isinstance(value, dict):
            if not value:
                raise EventPatternError(f"{where}: an empty object matches nothing")
            _check_object(value, where)
        else:
            for entry in value:
                if isinstance(entry, list):
                    raise EventPatternError(f"{where}: a list cannot contain a list")
                if isinstance(entry, dict):
                    _check_operator(entry, where)


def _check_operator(entry: Mapping[str, Any], where: str) -> None:
    if len(entry) != 1:
        raise EventPatternError(f"{where}: an operator object has exactly one key, got {sorted(entry)}")
    ((name, argument),) = entry.items()
    if name not in OPERATORS:
        raise EventPatternError(f"{where}: operator {name!r} is not evaluated by the local stack")
    if name == "anything-but" and isinstance(argument, dict):
        _check_operator(argument, where)
    if name == "numeric" and not set(argument[::2] if isinstance(argument, list) else "?") <= _COMPARISONS:
        raise EventPatternError(f"{where}: numeric needs [operator, number, ...], got {argument!r}")


@dataclass(frozen=True)
class EventRuleSpec:
    """An `AWS::Events::Rule` with an event pattern, delivering the whole event to `targets` (function
    ARNs)."""

    logical_id: str
    pattern: EventPattern
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleSpec:
    """An `AWS::Events::Rule` with a `rate(...)` `ScheduleExpression`; `targets` are (function ARN,
    constant `Input` JSON text or None for the scheduled event)."""

    logical_id: str
    seconds: float
    rule_arn: str
    targets: tuple[tuple[str, str | None], ...]


def _targets(
    logical_id: str, props: Mapping[str, Any], functions: set[str], kept: tuple[str, ...]
) -> list[Any]:
    """The rule's targets, refusing what the local stack would not deliver as AWS does."""
    if str(props.get("EventBusName") or "default").rpartition("event-bus/")[2] != "default":
        raise TemplateError(f"{logical_id}: rules on another bus than the default are not emulated locally")
    found = []
    for target in props.get("Targets") or []:
        if str(target.get("Arn")) not in functions:
            raise TemplateError(f"{logical_id}: target {target.get('Arn')} is not a function of the stack")
        reshaping = sorted({"Input", "InputPath", "InputTransformer"} & set(target) - set(kept))
        if reshaping:
            raise TemplateError(f"{logical_id}: target {', '.join(reshaping)} is not emulated locally")
        found.append((str(target["Arn"]), target.get("Input")) if kept else str(target["Arn"]))
    return found


def read_rules(
    rules: Iterable[tuple[str, Mapping[str, Any]]], function_arns: Iterable[str], region: str, account: str
) -> tuple[tuple[EventRuleSpec, ...], tuple[ScheduleSpec, ...]]:
    """The enabled pattern rules and `rate(...)` schedules among `(logical id, resolved properties)`."""
    patterns, schedules, functions = [], [], set(function_arns)
    for logical_id, props in rules:
        if str(props.get("State", "ENABLED")).upper() != "ENABLED":
            log.info("disabled rule not run locally", extra={"rule": logical_id})
            continue
        if "EventPattern" in props:
            targets = _targets(logical_id, props, functions, ())
            try:
                patterns.append(
                    EventRuleSpec(logical_id, EventPattern.compile(props["EventPattern"]), tuple(targets))
                )
            except EventPatternError as exc:
                raise TemplateError(f"{logical_id}: {exc}") from exc
            continue
        targets = _targets(logical_id, props, functions, ("Input",))
        expression = str(props.get("ScheduleExpression", ""))
        match = _RATE.match(expression)
        if match is None:
            log.info("schedule not run locally", extra={"rule": logical_id, "expression": expression})
            continue
        schedules.append(
            ScheduleSpec(
                logical_id=logical_id,
                seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")],
                rule_arn=f"arn:aws:events:{region}:{account}:rule/{props.get('Name') or logical_id}",
                targets=tuple(targets),
            )
        )
    return tuple(patterns), tuple(schedules)


def event_envelope(
    detail_type: str, source: str, account: str, region: str, moment: datetime, resource: str, detail: Any
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": detail,
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
                now = datetime.now(UTC)
                event = event_envelope(
                    "Scheduled Event", "aws.events", self._account, self._region, now, schedule.rule_arn, {}
                )
                for arn, constant in schedule.targets:
                    try:
                        self._invoke(arn, json.loads(constant) if constant is not None else event)
                    except Exception:
                        log.exception("scheduled invocation refused", extra={"rule": schedule.logical_id})
