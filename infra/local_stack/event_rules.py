"""`AWS::Events::Rule` resources read into `EventRuleSpec`s (pure: resolved properties in, specs out).

SAM function events of `Type: EventBridgeRule`/`CloudWatchEvent` are such rules once the template is
translated. Only rules with an `EventPattern` and targets that are functions of the stack are emulated
(other targets and schedule-only rules are logged and skipped). A pattern the local matcher cannot
evaluate, or a target that reshapes the event (`Input`, `InputPath`, `InputTransformer`: the template
uses none), raises `TemplateError` rather than deliver something else than AWS would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from local_stack.cfn import TemplateError
from local_stack.event_patterns import EventPattern, EventPatternError
from local_stack.resources import DEFAULT_EVENT_BUS, EventRuleSpec, RuleTarget

log = logging.getLogger(__name__)

EVENT_RULE = "AWS::Events::Rule"
_RESHAPING = ("Input", "InputPath", "InputTransformer")


def rules_from_resources(
    rules: Iterable[tuple[str, Mapping[str, Any]]], function_arns: Iterable[str]
) -> Iterator[EventRuleSpec]:
    """Rules declared as `AWS::Events::Rule` `(logical id, resolved properties)` with function targets."""
    known = set(function_arns)
    for logical_id, props in rules:
        if "EventPattern" not in props:
            log.info("event rule without EventPattern not emulated", extra={"rule": logical_id})
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
