"""EventBridge event patterns, matched by moto's `EventPattern` after a check of what it would ignore.

moto evaluates literals (and any element of an array value), nested objects, `$or`, `prefix`, `suffix`,
`equals-ignore-case`, `anything-but`, `exists`, `numeric`, `cidr` and `wildcard`, but treats an operator
it does not know as a match. `EventPattern.compile` therefore refuses such an operator (and malformed
patterns) with `EventPatternError`: a pattern the local stack cannot evaluate fails at start instead of
silently matching every event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.events import models as moto_events
from moto.events.exceptions import InvalidEventPatternException

OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "exists", "numeric", "cidr", "wildcard"}
)
_COMPARISONS = frozenset({"<", "<=", "=", ">=", ">"})


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
            if not isinstance(value, list) or not value or not all(isinstance(a, dict) for a in value):
                raise EventPatternError(f"{where}: $or needs a non-empty list of patterns")
            for alternative in value:
                _check_object(alternative, path)
        elif isinstance(value, dict):
            if not value:
                raise EventPatternError(f"{where}: an empty object matches nothing")
            _check_object(value, where)
        else:
            for entry in value:
                if isinstance(entry, dict):
                    _check_operator(entry, where)
                elif isinstance(entry, list):
                    raise EventPatternError(f"{where}: a list cannot contain a list")


def _check_operator(entry: Mapping[str, Any], where: str) -> None:
    if len(entry) != 1:
        raise EventPatternError(f"{where}: an operator object has exactly one key, got {sorted(entry)}")
    ((name, argument),) = entry.items()
    if name not in OPERATORS:
        raise EventPatternError(f"{where}: operator {name!r} is not evaluated by the local stack")
    if name == "anything-but" and isinstance(argument, dict):
        _check_operator(argument, where)
    if name == "exists" and not isinstance(argument, bool):
        raise EventPatternError(f"{where}: exists needs true or false, got {argument!r}")
    if name in ("prefix", "suffix", "equals-ignore-case", "wildcard", "cidr") and not (
        isinstance(argument, str)
        or (isinstance(argument, list) and all(isinstance(a, str) for a in argument))
        or (
            name in ("prefix", "suffix")
            and isinstance(argument, dict)
            and set(argument) == {"equals-ignore-case"}
        )
    ):
        raise EventPatternError(f"{where}: {name} needs a string, got {argument!r}")
    if name == "numeric":
        pairs = argument if isinstance(argument, list) else []
        operators = pairs[::2]
        values = pairs[1::2]
        if (
            not pairs
            or len(pairs) % 2
            or not set(operators) <= _COMPARISONS
            or not all(isinstance(v, (int, float)) for v in values)
        ):
            raise EventPatternError(f"{where}: numeric needs [operator, number, ...], got {argument!r}")
