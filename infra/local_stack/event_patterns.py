"""EventBridge event patterns: the content-filter subset the local stack needs, checked when compiled.

A pattern is a JSON object whose leaves are non-empty lists. A leaf matches when the event's value at
that path (or, for an array value, any of its elements) matches any entry of the list. Entries are
literals (string, number, boolean, null: equality, numbers compared numerically) or one-key operators:

- `{"prefix": "s"}`, `{"suffix": "s"}`, `{"equals-ignore-case": "s"}` (strings only);
- `{"anything-but": literal | [literals] | {"prefix": "s"} | {"suffix": "s"}}` (a present value only);
- `{"exists": true | false}` (`false` is the only entry that matches an absent field);
- `{"numeric": [">", 0, "<=", 5]}` (one or two comparisons).

Any other operator (`wildcard`, `cidr`, `$or`...), a scalar where a list is expected, or an empty
list raises `EventPatternError` at compile time: a pattern the local stack cannot evaluate fails
loudly instead of never matching.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MAX_DEPTH = 32
_MISSING = object()
_COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


class EventPatternError(ValueError):
    """An event pattern is malformed or uses an operator the local stack does not implement."""


@dataclass(frozen=True)
class EventPattern:
    """A validated pattern; `source` is the pattern as written (JSON-compatible data)."""

    source: Mapping[str, Any]

    @classmethod
    def compile(cls, pattern: Any) -> EventPattern:
        """Validate `pattern` (a mapping, or its JSON text) and return it; `EventPatternError` otherwise."""
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except ValueError as exc:
                raise EventPatternError(f"event pattern is not valid JSON: {exc}") from exc
        if not isinstance(pattern, Mapping) or not pattern:
            raise EventPatternError(f"event pattern must be a non-empty object, got {pattern!r}")
        _check_object(pattern, path="", depth=0)
        return cls(source=pattern)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True if `event` satisfies every field of the pattern."""
        return _match_object(self.source, event)


def _check_object(pattern: Mapping[str, Any], path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise EventPatternError(f"event pattern nested deeper than {_MAX_DEPTH} levels at {path}")
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else str(key)
        if str(key).startswith("$"):
            raise EventPatternError(f"{where}: {key} is not supported by the local stack")
        if isinstance(value, Mapping):
            if not value:
                raise EventPatternError(f"{where}: an empty object matches nothing")
            _check_object(value, where, depth + 1)
        elif isinstance(value, list):
            if not value:
                raise EventPatternError(f"{where}: an empty list matches nothing")
            for entry in value:
                _check_entry(entry, where)
        else:
            raise EventPatternError(f"{where}: values must be lists or objects, got {value!r}")


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _check_entry(entry: Any, where: str) -> None:
    if _is_literal(entry):
        return
    if not (isinstance(entry, Mapping) and len(entry) == 1):
        raise EventPatternError(f"{where}: entry {entry!r} is neither a literal nor a one-key operator")
    ((operator, operand),) = entry.items()
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(operand, str):
            raise EventPatternError(f"{where}: {operator} needs a string, got {operand!r}")
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise EventPatternError(f"{where}: exists needs true or false, got {operand!r}")
    elif operator == "anything-but":
        _check_anything_but(operand, where)
    elif operator == "numeric":
        _check_numeric(operand, where)
    else:
        raise EventPatternError(f"{where}: operator {operator!r} is not supported by the local stack")


def _check_anything_but(operand: Any, where: str) -> None:
    if _is_literal(operand) and operand is not None:
        return
    if isinstance(operand, list) and operand and all(_is_literal(item) for item in operand):
        return
    if isinstance(operand, Mapping) and len(operand) == 1:
        ((operator, value),) = operand.items()
        if operator in ("prefix", "suffix") and isinstance(value, str):
            return
    raise EventPatternError(f"{where}: unsupported anything-but operand {operand!r}")


def _check_numeric(operand: Any, where: str) -> None:
    if not (isinstance(operand, list) and len(operand) in (2, 4)):
        raise EventPatternError(f"{where}: numeric needs [op, number] or [op, number, op, number]")
    for index in range(0, len(operand), 2):
        operator, number = operand[index], operand[index + 1]
        if operator not in _COMPARISONS or not _is_number(number):
            raise EventPatternError(f"{where}: numeric comparison {operator!r} {number!r} is not valid")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _match_object(pattern: Mapping[str, Any], event: Any) -> bool:
    # A field under an absent (or non-object) value is absent: only `exists: false` can match it.
    if not isinstance(event, Mapping):
        event = {}
    for key, expected in pattern.items():
        actual = event.get(key, _MISSING)
        if isinstance(expected, Mapping):
            if not _match_object(expected, actual):
                return False
        elif not _match_leaf(expected, actual):
            return False
    return True


def _match_leaf(entries: list[Any], actual: Any) -> bool:
    if actual is _MISSING:
        return any(isinstance(entry, Mapping) and entry.get("exists") is False for entry in entries)
    values = actual if isinstance(actual, list) else [actual]
    return any(_match_entry(entry, value) for entry in entries for value in values)


def _literal_equals(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return bool(float(expected) == float(value))
    return type(expected) is type(value) and expected == value


def _match_entry(entry: Any, value: Any) -> bool:
    if not isinstance(entry, Mapping):
        return _literal_equals(entry, value)
    ((operator, operand),) = entry.items()
    if operator == "exists":
        return bool(operand)
    if operator == "anything-but":
        return _match_anything_but(operand, value)
    if operator == "numeric":
        return _is_number(value) and all(
            _COMPARISONS[operand[i]](float(value), float(operand[i + 1])) for i in range(0, len(operand), 2)
        )
    if not isinstance(value, str):
        return False
    if operator == "prefix":
        return value.startswith(operand)
    if operator == "suffix":
        return value.endswith(operand)
    return value.casefold() == str(operand).casefold()


def _match_anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        ((operator, text),) = operand.items()
        if not isinstance(value, str):
            return False
        return not (value.startswith(text) if operator == "prefix" else value.endswith(text))
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_literal_equals(item, value) for item in excluded)
