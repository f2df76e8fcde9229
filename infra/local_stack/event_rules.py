"""EventBridge rules of a template, read into `EventRuleSpec`s (pure: resolved properties in, specs out).

Two declarations are read, with no name hard-coded:

- SAM function events of `Type: EventBridgeRule` or `Type: CloudWatchEvent` (`Properties.Pattern`,
  optional `EventBusName`, `State`/`Enabled`, `Input`, `InputPath`): the function is the target;
- `AWS::Events::Rule` resources with an `EventPattern` and `Targets` whose `Arn` is a function of the
  stack (other targets, and schedule-only rules, are not emulated and are logged).

A pattern the local matcher cannot evaluate, or an `InputTransformer`, raises `TemplateError`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from local_stack.cfn import TemplateError
from local_stack.event_patterns import EventPattern, EventPatternError
from local_stack.resources import DEFAULT_EVENT_BUS, EventRuleSpec, RuleTarget

log = logging.getLogger(__name__)

EVENT_RULE = "AWS::Events::Rule"
FUNCTION_EVENT_TYPES = frozenset({"EventBridgeRule", "CloudWatchEvent"})
_INPUT_PATH = re.compile(r"^\$(\.[A-Za-z0-9_-]+)*$")


def rules_from_function_events(
    functions: Iterable[tuple[str, Mapping[str, Any], str]],
) -> Iterator[EventRuleSpec]:
    """Rules declared as SAM events of `(logical id, resolved properties, function ARN)` functions."""
    for logical_id, props, function_arn in functions:
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") not in FUNCTION_EVENT_TYPES:
                continue
            rule_id = f"{logical_id}{event_name}"
            source = event.get("Properties") or {}
            if "Pattern" not in source:
                raise TemplateError(f"{rule_id}: an {event['Type']} event needs a Pattern")
            enabled = _enabled(source.get("State"), source.get("Enabled", True))
            yield EventRuleSpec(
                logical_id=rule_id,
                pattern=_pattern(rule_id, source["Pattern"]),
                targets=(_target(rule_id, function_arn, source),),
                event_bus=_bus_name(source.get("EventBusName")),
                enabled=enabled,
            )


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
            targets.append(_target(logical_id, arn, declared))
        if not targets:
            log.info("event rule with no function target not emulated", extra={"rule": logical_id})
            continue
        yield EventRuleSpec(
            logical_id=logical_id,
            pattern=_pattern(logical_id, props["EventPattern"]),
            targets=tuple(targets),
            event_bus=_bus_name(props.get("EventBusName")),
            enabled=_enabled(props.get("State"), True),
        )


def _pattern(rule_id: str, pattern: Any) -> EventPattern:
    try:
        return EventPattern.compile(pattern)
    except EventPatternError as exc:
        raise TemplateError(f"{rule_id}: {exc}") from exc


def _target(rule_id: str, function_arn: str, props: Mapping[str, Any]) -> RuleTarget:
    if "InputTransformer" in props:
        raise TemplateError(f"{rule_id}: InputTransformer is not supported by the local stack")
    constant = props.get("Input")
    if constant is not None and not isinstance(constant, str):
        constant = json.dumps(constant)
    if constant is not None:
        try:
            json.loads(constant)
        except ValueError as exc:
            raise TemplateError(f"{rule_id}: target Input is not valid JSON: {exc}") from exc
    path = props.get("InputPath")
    if path is not None and not _INPUT_PATH.match(str(path)):
        raise TemplateError(f"{rule_id}: InputPath {path!r} is not of the form $ or $.a.b")
    return RuleTarget(
        function_arn=function_arn, input=constant, input_path=None if path is None else str(path)
    )


def _enabled(state: Any, enabled: Any) -> bool:
    if state is not None:
        return str(state).upper() == "ENABLED"
    return enabled is True or str(enabled).lower() == "true"


def _bus_name(value: Any) -> str:
    """A bus name or ARN (`arn:…:event-bus/<name>`) as its name; absent means the default bus."""
    if value is None or value == "":
        return DEFAULT_EVENT_BUS
    return str(value).rpartition("event-bus/")[2] or DEFAULT_EVENT_BUS


def target_input(target: RuleTarget, event: Mapping[str, Any]) -> Any:
    """What `target` receives for `event`: the constant `Input`, the `InputPath` selection, or the event."""
    if target.input is not None:
        return json.loads(target.input)
    if target.input_path is None:
        return event
    node: Any = event
    for part in target.input_path.split(".")[1:]:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node
