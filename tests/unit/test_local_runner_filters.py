"""Lambda event filtering as the local pollers apply it (the rules Lambda documents for FilterCriteria)."""

from __future__ import annotations

import json

import pytest

from local_runner.emulator.filters import InvalidFilterPattern, matches, matches_any, sqs_view
from local_runner.emulator.template import functions, load


def _profile_record(event_name: str = "MODIFY", changed_by: str = "ingest", status: str = "active") -> dict:
    return {
        "eventName": event_name,
        "dynamodb": {
            "Keys": {"pk": {"S": "SUBJECT#sub_1"}, "sk": {"S": "PROFILE"}},
            "NewImage": {"sk": {"S": "PROFILE"}, "status": {"S": status}, "changed_by": {"S": changed_by}},
        },
    }


def test_no_patterns_lets_everything_through() -> None:
    assert matches_any([], {"anything": 1})


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_profile_record(), True),
        (_profile_record(event_name="INSERT"), True),
        (_profile_record(event_name="REMOVE"), False),
        (_profile_record(changed_by="classifier"), False),
        (_profile_record(status="erasing"), False),
    ],
)
def test_the_classifier_sees_profile_changes_but_not_its_own_writes(record: dict, expected: bool) -> None:
    classifier = next(spec for spec in functions(load()) if spec.streams)
    assert matches_any(classifier.streams[0].filters, record) is expected


def test_an_event_item_is_filtered_out_by_its_sort_key() -> None:
    record = _profile_record()
    record["dynamodb"]["Keys"]["sk"] = {"S": "EVENT#web#1"}
    pattern = {"dynamodb": {"Keys": {"sk": {"S": ["PROFILE"]}}}}
    assert not matches(pattern, record)


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ("a", "a", True),
        ("a", "b", False),
        (5, 5.0, True),
        (5, "5", False),  # DynamoDB numbers are strings: no numeric equality with them
        (True, True, True),
        (True, 1, False),
        (None, None, True),
        ("", "", True),
        ({"prefix": "SUB"}, "SUBJECT#1", True),
        ({"prefix": "SUB"}, "TOKEN#1", False),
        ({"suffix": ".png"}, "a.png", True),
        ({"equals-ignore-case": "Active"}, "ACTIVE", True),
        ({"anything-but": ["classifier"]}, "ingest", True),
        ({"anything-but": ["classifier"]}, "classifier", False),
        ({"anything-but": "x"}, "y", True),
        ({"anything-but": {"prefix": "tmp"}}, "tmp-1", False),
        ({"numeric": [">", 0, "<=", 5]}, 5, True),
        ({"numeric": [">", 0, "<=", 5]}, 6, False),
        ({"numeric": ["=", 3]}, "3", False),
        ({"exists": True}, "x", True),
    ],
)
def test_matchers(matcher: object, value: object, expected: bool) -> None:
    assert matches({"field": [matcher]}, {"field": value}) is expected


def test_missing_fields_match_only_exists_false() -> None:
    assert matches({"field": [{"exists": False}]}, {})
    assert not matches({"field": [{"exists": False}]}, {"field": "x"})
    assert not matches({"field": [{"exists": True}]}, {})
    assert not matches({"field": [{"anything-but": ["x"]}]}, {})


def test_a_list_value_matches_when_any_element_does() -> None:
    assert matches({"tags": ["vip"]}, {"tags": ["new", "vip"]})


def test_patterns_are_or_and_keys_are_and() -> None:
    patterns = [json.dumps({"a": ["1"], "b": ["2"]}), json.dumps({"c": ["3"]})]
    assert matches_any(patterns, {"a": "1", "b": "2"})
    assert not matches_any(patterns, {"a": "1", "b": "x"})
    assert matches_any(patterns, {"c": "3"})


def test_sqs_bodies_are_matched_as_json_when_they_are_json() -> None:
    record = {"messageId": "1", "body": json.dumps({"kind": "erasure"})}
    assert matches({"body": {"kind": ["erasure"]}}, sqs_view(record))
    assert matches({"body": ["plain text"]}, sqs_view({"body": "plain text"}))


@pytest.mark.parametrize("pattern", ['["not an object"]', '{"a": "not a list"}', '{"a": [{"regex": "x"}]}'])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidFilterPattern):
        matches_any([pattern], {"a": "x"})
