"""EventBridge content filtering as the local stack evaluates it."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.event_rules import EventPattern, EventPatternError

EVENT: dict[str, Any] = {
    "source": "aws.states",
    "detail-type": "Step Functions Execution Status Change",
    "resources": ["arn:aws:states:us-east-1:1:execution:m:e1"],
    "detail": {
        "status": "TIMED_OUT",
        "name": "scan-png-1",
        "stopDate": 1700,
        "output": None,
        "tags": ["red", "blue"],
    },
}


def _matches(pattern: Any) -> bool:
    return EventPattern.compile(pattern).matches(EVENT)


def test_pattern_literal_list_matches_any_listed_value() -> None:
    # GIVEN a status list naming the event's status among others
    # WHEN / THEN it matches
    assert _matches({"detail": {"status": ["ABORTED", "TIMED_OUT"]}})


def test_pattern_literal_list_without_the_value_does_not_match() -> None:
    # GIVEN a status list without the event's status
    # WHEN / THEN it does not match
    assert not _matches({"detail": {"status": ["FAILED", "ABORTED"]}})


def test_pattern_all_fields_must_match() -> None:
    # GIVEN one matching and one non-matching field
    # WHEN / THEN the pattern does not match
    assert not _matches({"source": ["aws.states"], "detail-type": ["Something Else"]})


def test_pattern_array_event_value_matches_when_any_element_matches() -> None:
    # GIVEN an event field holding an array
    # WHEN / THEN a pattern naming one of its elements matches
    assert _matches({"detail": {"tags": ["blue"]}})


def test_pattern_prefix_matches_start_of_string() -> None:
    # GIVEN a prefix of the execution name
    # WHEN / THEN it matches, and another prefix does not
    assert _matches({"detail": {"name": [{"prefix": "scan-"}]}})
    assert not _matches({"detail": {"name": [{"prefix": "photo-"}]}})


def test_pattern_anything_but_excludes_listed_values() -> None:
    # GIVEN anything-but lists with and without the event's status
    # WHEN / THEN only the list without it matches
    assert _matches({"detail": {"status": [{"anything-but": ["SUCCEEDED", "RUNNING"]}]}})
    assert not _matches({"detail": {"status": [{"anything-but": "TIMED_OUT"}]}})


def test_pattern_anything_but_prefix_excludes_prefixed_values() -> None:
    # GIVEN anything-but a prefix of the name
    # WHEN / THEN it does not match
    assert not _matches({"detail": {"name": [{"anything-but": {"prefix": "scan"}}]}})


def test_pattern_anything_but_does_not_match_an_absent_field() -> None:
    # GIVEN anything-but on a field the event lacks
    # WHEN / THEN it does not match (EventBridge needs the field present)
    assert not _matches({"detail": {"error": [{"anything-but": "x"}]}})


def test_pattern_exists_true_requires_the_field() -> None:
    # GIVEN exists:true on a present and on an absent field
    # WHEN / THEN only the present one matches
    assert _matches({"detail": {"stopDate": [{"exists": True}]}})
    assert not _matches({"detail": {"error": [{"exists": True}]}})


def test_pattern_exists_false_matches_only_absent_fields() -> None:
    # GIVEN exists:false on an absent field, under an absent object, and on a present field
    # WHEN / THEN the absent ones match
    assert _matches({"detail": {"error": [{"exists": False}]}})
    assert _matches({"missing": {"deeper": [{"exists": False}]}})
    assert not _matches({"detail": {"status": [{"exists": False}]}})


def test_pattern_null_literal_matches_null_value() -> None:
    # GIVEN a null literal on a field whose value is null
    # WHEN / THEN it matches
    assert _matches({"detail": {"output": [None]}})


def test_pattern_number_literal_compares_numerically() -> None:
    # GIVEN 1700.0 for the integer 1700, and a numeric range around it
    # WHEN / THEN both match
    assert _matches({"detail": {"stopDate": [1700.0]}})
    assert _matches({"detail": {"stopDate": [{"numeric": [">", 1000, "<=", 1700]}]}})


def test_pattern_string_literal_does_not_equal_number() -> None:
    # GIVEN the string "1700" for the number 1700
    # WHEN / THEN it does not match
    assert not _matches({"detail": {"stopDate": ["1700"]}})


def test_pattern_suffix_and_equals_ignore_case_match_strings() -> None:
    # GIVEN suffix and case-insensitive operators
    # WHEN / THEN they match the execution name and the status
    assert _matches({"detail": {"name": [{"suffix": "-1"}], "status": [{"equals-ignore-case": "timed_out"}]}})


def test_pattern_from_json_text_compiles() -> None:
    # GIVEN a pattern written as JSON text (as AWS::Events::Rule allows)
    # WHEN / THEN it compiles and matches
    assert EventPattern.compile('{"source": ["aws.states"]}').matches(EVENT)


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"detail": {"status": [{"wildcard": "TIMED*"}]}}, {"detail": {"status": "TIMED_OUT"}}, True),
        ({"detail": {"status": [{"wildcard": "TIMED*"}]}}, {"detail": {"status": "FAILED"}}, False),
        ({"$or": [{"source": ["aws.states"]}, {"detail-type": ["x"]}]}, {"detail-type": "x"}, True),
        ({"$or": [{"source": ["aws.states"]}, {"detail-type": ["x"]}]}, {"source": "y"}, False),
        ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "10.1.2.3"}, True),
    ],
)
def test_pattern_wildcard_or_and_cidr_are_evaluated(pattern: Any, event: Any, expected: bool) -> None:
    # GIVEN / WHEN a pattern with an operator moto evaluates / THEN it matches as EventBridge does
    assert EventPattern.compile(pattern).matches(event) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {"detail": {"status": [{"starts-with": "TIMED"}]}},
        {"$or": []},
        {"source": "aws.states"},
        {"source": []},
        {"detail": {}},
        {"source": [{"numeric": ["~", 1]}]},
        {"source": [{"prefix": "a", "suffix": "b"}]},
        {},
        "not json",
    ],
)
def test_pattern_unknown_operator_or_malformed_raises_at_compile(pattern: Any) -> None:
    # GIVEN a pattern the local matcher cannot evaluate faithfully
    # WHEN it is compiled
    # THEN it fails loudly instead of matching every event (what moto does with an unknown operator)
    with pytest.raises(EventPatternError):
        EventPattern.compile(pattern)
